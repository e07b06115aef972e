"""Pinned spec hashes: what running stacks are labelled with must not change when stackup's
code does, or upgrading stackup would recreate every container, network and swarm service.

One stack touching most keys is planned for both targets with a fixed salt, and every hash
that goes into a label (the container's, network's, volume's and swarm service's spec hash,
the swarm task hash, the config and secret version names) is compared with the value the
code produced when this test was written. A change here is a change to what is running: if
it is intended, it needs a migration story, not a new pin.
"""

from __future__ import annotations

from pathlib import Path

from stackup.loading.loader import load_text
from stackup.model import labels as L
from stackup.planning.desired import (
    desired_containers,
    desired_network,
    desired_volume,
    read_file_objects,
)
from stackup.targets.swarm.desired import SwarmOptions, desired_objects, desired_service

SALT = "0123456789abcdef"
ENV = {"TOKEN": "from-env", "PW": "pw"}

STACK = """
name: pin
services:
  web:
    image: nginx:stable
    command: [nginx, -g, "daemon off;"]
    environment:
      MODE: prod
      API_TOKEN: literal-token
      FROM_ENV: ${TOKEN}
      EMPTY:
    ports:
      - "127.0.0.1:18080:80"
      - {target: 443, published: 18443, mode: host}
    volumes:
      - data:/var/lib/data
      - ./site:/usr/share/nginx/html:ro
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 1000000}
    networks:
      front:
        aliases: [www]
      back: {}
    configs:
      - source: site
        target: /etc/nginx/conf.d/default.conf
    secrets: [db_password]
    healthcheck:
      test: [CMD, curl, -f, http://127.0.0.1/]
      interval: 2s
      retries: 3
    labels:
      team: web
    logging:
      driver: json-file
      options: {max-size: 1m}
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    extra_hosts: ["db.local:10.0.0.2"]
    deploy:
      replicas: 2
      labels: {tier: front}
      resources:
        limits: {cpus: "0.5", memory: 64M, pids: 100}
      update_config: {order: start-first, parallelism: 1, failure_action: rollback}
      restart_policy: {condition: any, delay: 1s}
    depends_on: [app]
    restart: unless-stopped
    user: "101:101"
  app:
    build: ./app
    image: app:v1
    environment:
      DB_PASSWORD: ${PW}
    secrets:
      - source: db_password
        target: db
        mode: 0400
    networks: [back]
    stop_grace_period: 5s
    x-stackup:
      sensitive: [APP_KEY]
    deploy:
      mode: global
      endpoint_mode: dnsrr
  plain:
    image: busybox:stable
    tty: true
    read_only: true
    sysctls: {net.core.somaxconn: 1024}
networks:
  front:
    labels: {zone: dmz}
  back:
    internal: true
    ipam:
      config:
        - subnet: 172.30.0.0/24
volumes:
  data:
    labels: {keep: "yes"}
configs:
  site:
    content: "server { listen 80; }"
secrets:
  db_password:
    content: "hunter2"
"""

PINNED = {
    "container:app": "27062e7cd5c5191ce9c1e46aa50ddaf6c42329770dfb68f3f60eae223626b787",
    "container:plain": "498fce33fabba1b9a9510d4dd0ec4b240a466330b7e164e36e08d92cb49260ca",
    "container:web": "f5443e42708b684fe8e8c909495cc780aabc468ca84a960d5356362c701b7cfc",
    "network:back": "38be38a04d990c60b660de346c1554d91858b26bdd07a50ec0ad91bee8386fba",
    "network:default": "be03f00fded369566cd8babb06f9d4535f7d339e7c0a4748c5cdab6115530c56",
    "network:front": "77ec57fbe2549d32c44ed125fb2d0e595e0c49de9fa66853f9d2b0504072fcc0",
    "volume:data": "242e146091ef2e77a08a0fbe12b07d7d7ae0c48f1a863e680313ab8501958725",
    "config:site": "pin_site-13f4d3875906",
    "secret:db_password": "pin_db_password-deda27db21d0",
    "swarm:app": "49822bf4e0222c8f1aa1a2f9c98e90a94db95bff7a354fb68de2014cce140d9c",
    "task:app": "0a8cc078b13deb84",
    "swarm:plain": "9cfe7d5092d4460ae1059e5676c3b24352a22bc727b0c62ec5c1d64e2fbba506",
    "task:plain": "c10f5b97518a47c9",
    "swarm:web": "dc902b8a8a5f15d07d2b0d4d6bfffa8b400ff8eeeac97a66583ec14163df14af",
    "task:web": "2b4a6876c5dce53d",
}


def _hashes() -> dict[str, str]:
    loaded = load_text(STACK, working_dir=Path("/srv/pin"), environ=ENV)
    stack = loaded.stack
    files = read_file_objects(stack, environ={})
    out: dict[str, str] = {}
    for name in sorted(stack.services):
        out[f"container:{name}"] = desired_containers(stack, name, 1, SALT, files)[0].spec_hash
    for key in sorted(stack.networks):
        out[f"network:{key}"] = desired_network(stack, key, SALT).spec.labels[L.SPEC_HASH]
    for key in sorted(stack.volumes):
        out[f"volume:{key}"] = desired_volume(stack, key, SALT).spec.labels[L.SPEC_HASH]
    objects = {(o.kind, o.key): o for o in desired_objects(stack, SALT, files)}
    for obj in objects.values():
        out[f"{obj.kind}:{obj.key}"] = obj.name
    options = SwarmOptions(salt=SALT, file_objects=files)
    for name in sorted(stack.services):
        want = desired_service(stack, name, SALT, objects, options)
        out[f"swarm:{name}"] = want.labels[L.SPEC_HASH]
        out[f"task:{name}"] = want.task_hash
    return out


def test_the_hashes_running_stacks_carry_do_not_change() -> None:
    assert _hashes() == PINNED


def test_the_label_holds_the_canonical_spec_the_hash_is_of() -> None:
    loaded = load_text(STACK, working_dir=Path("/srv/pin"), environ=ENV)
    files = read_file_objects(loaded.stack, environ={})
    container = desired_containers(loaded.stack, "web", 1, SALT, files)[0]
    assert L.spec_hash(container.spec.labels[L.SPEC]) == container.spec_hash
    assert container.spec.labels[L.SPEC] == L.canonical_json(container.canonical)
    # The secret never reaches a label, on either target.
    objects = {(o.kind, o.key): o for o in desired_objects(loaded.stack, SALT, files)}
    service = desired_service(loaded.stack, "web", SALT, objects, SwarmOptions(salt=SALT))
    for text in (container.spec.labels[L.SPEC], service.labels[L.SPEC]):
        assert "literal-token" not in text and "hunter2" not in text
