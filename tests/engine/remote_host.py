"""A remote host for tests: a container running sshd and a dockerd of its own.

The image `stackup-test/remote-host` is built from Debian packages by
scripts/build-remote-host.sh (called here; it returns at once when the image is current). The
container gets:

* its own dockerd (started detached by its entrypoint), in the container's own network
  namespace: unlike a second dockerd on this host's (tests/engine/private_dockerd.py), it cannot
  touch the outer engine's `docker0`. Its networks take a 10.x.0.0/16 that overlaps no route
  of this host, so they cannot clash with the outer engine's addresses either. Its
  /var/lib/docker is a named volume (vfs: overlay does not nest on overlay);
* sshd on a port published on 127.0.0.1 only, a user `deploy` in the docker group, and the
  public half of a key pair generated for this run;
* an ssh config file of the test's own (a Host alias, HostName 127.0.0.1, the port, the user,
  the key, a known_hosts file in the temporary directory): nothing reads or writes ~/.ssh.

`--privileged` is refused on these machines (the bounding set lacks CAP_SYS_RESOURCE), so the
container gets every other capability, no seccomp/apparmor profile, writable /proc and /sys
paths and every device; its entrypoint remounts /sys and the cgroup hierarchies read-write.

The container and its volume carry `io.stackup.project=<name>` (a `sut-` name like every test
project's) and are removed at the end, pass or fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import secrets
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from tests.engine.helpers import PROJECT_LABEL, RELEASE_PROJECT_LABEL, ROOT, free_port, wait_for
from tests.engine.private_dockerd import free_address_pool

IMAGE = "stackup-test/remote-host:latest"
ALIAS = "stackup-remote"
# Images the tests deploy on the remote host, copied from this engine (never pulled).
IMAGES = ("busybox:latest", "nginx:1.27")


@dataclass
class RemoteHost:
    container: str
    volume: str
    alias: str
    port: int
    ssh_config: Path
    key: Path
    workdir: Path
    local: docker.DockerClient

    @property
    def url(self) -> str:
        """The engine address a user would set: `ssh://ALIAS` (the alias, not 127.0.0.1:
        an address on this host would be taken for a local engine)."""
        return f"ssh://{self.alias}"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a stackup command aimed at the remote engine by DOCKER_HOST."""
        return {
            "DOCKER_HOST": self.url,
            "STACKUP_SSH_CONFIG": str(self.ssh_config),
            "DOCKER_CONTEXT": "",
            **extra,
        }

    def ssh(
        self, *command: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command on the remote host through ssh, with the test's config file."""
        proc = subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", self.alias, *command],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"ssh {self.alias} {' '.join(command)} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')}"
            )
        return proc

    @contextlib.contextmanager
    def forward(self, remote_port: int) -> Iterator[int]:
        """A port on this machine's loopback forwarded (ssh -L) to `remote_port` on the remote
        host's loopback, where its containers publish: the way to their pages."""
        local_port = free_port()
        proc = subprocess.Popen(
            [
                "ssh",
                "-F",
                str(self.ssh_config),
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-N",
                "-L",
                f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}",
                self.alias,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield local_port
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def exec_root(self, *command: str) -> str:
        """Run a command as root on the remote host (`docker exec`, not ssh)."""
        result = self.local.containers.get(self.container).exec_run(list(command))
        output = result.output.decode("utf-8", "replace")
        assert result.exit_code == 0, f"{' '.join(command)} on the remote host: {output}"
        return output

    def docker(self, *args: str) -> str:
        """The remote engine's docker CLI, reached with `docker exec` (not through ssh, and
        not through stackup's code): what the tests assert on."""
        return self.exec_root("docker", *args)

    def containers_of(self, project: str) -> list[str]:
        """Names of the remote engine's containers labelled with `project`."""
        out = self.docker(
            "ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "{{.Names}}"
        )
        return sorted(out.split())

    def logins(self) -> int:
        """How many ssh logins sshd accepted so far (sshd logs to the container's stderr)."""
        logs = self.local.containers.get(self.container).logs().decode("utf-8", "replace")
        return len(re.findall(r"^Accepted publickey for deploy ", logs, flags=re.M))

    def remove_project(self, project: str) -> None:
        """Remove what a test project left on the remote engine (the container goes at the
        end of the session anyway; this keeps tests independent within it)."""
        for kind, ls, label in (
            ("container", ["ps", "-aq"], PROJECT_LABEL),
            ("container", ["ps", "-aq"], RELEASE_PROJECT_LABEL),  # its release records
            ("network", ["network", "ls", "-q"], PROJECT_LABEL),
        ):
            ids = self.docker(*ls, "--filter", f"label={label}={project}").split()
            if ids:
                rm = ["rm", "-f", "-v"] if kind == "container" else ["network", "rm"]
                self.docker(*rm, *ids)


def with_open_root(saved: bytes) -> bytes:
    """A `docker save` archive whose layers' root directory entries (`./`) are 0755.

    The locally built nginx image's layer records its root as 0700 (the mode of the
    temporary directory it was made in). The outer engine's overlayfs ignores it; the remote
    host's dockerd uses vfs, which applies it, so nginx's workers (www-data) could read
    nothing in a container of it. Each changed layer gets its new digest in the image
    config (`docker load` checks them); the image ID changes with it."""
    members: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        for entry in archive.getmembers():
            content = archive.extractfile(entry) if entry.isfile() else None
            members[entry.name] = (entry, content.read() if content is not None else b"")
    manifest = json.loads(members["manifest.json"][1])
    for image in manifest:
        config = json.loads(members[image["Config"]][1])
        diff_ids = []
        for layer in image["Layers"]:
            entry, data = members[layer]
            out = io.BytesIO()
            with (
                tarfile.open(fileobj=io.BytesIO(data)) as src,
                tarfile.open(fileobj=out, mode="w") as dst,
            ):
                for item in src.getmembers():
                    if item.isdir() and item.name in (".", "./"):
                        item.mode = 0o755
                    dst.addfile(item, src.extractfile(item) if item.isfile() else None)
            data = out.getvalue()
            entry.size = len(data)
            members[layer] = (entry, data)
            diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        config["rootfs"]["diff_ids"] = diff_ids
        entry, _ = members[image["Config"]]
        data = json.dumps(config).encode()
        entry.size = len(data)
        members[image["Config"]] = (entry, data)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for entry, data in members.values():
            archive.addfile(entry, io.BytesIO(data) if entry.isfile() else None)
    return out.getvalue()


def build_image() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "build-remote-host.sh")], check=True)


@contextlib.contextmanager
def remote_host(
    local: docker.DockerClient, workdir: Path, images: Sequence[str] = IMAGES
) -> Iterator[RemoteHost]:
    """Start a remote host, wait until its sshd and dockerd answer, load `images` into it."""
    build_image()
    name = f"sut-remote-{secrets.token_hex(4)}"
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    pool = free_address_pool()  # e.g. 10.199.0.0/16
    prefix = pool.split(".0.0/")[0]
    labels = {PROJECT_LABEL: name}
    volume = local.volumes.create(name=f"{name}-docker", labels=labels)
    try:
        host_config = local.api.create_host_config(
            port_bindings={22: ("127.0.0.1", None)},
            binds={volume.name: {"bind": "/var/lib/docker", "mode": "rw"}},
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            device_cgroup_rules=["a *:* rwm"],
        )
        # `--security-opt systempaths=unconfined` is the CLI's spelling of these two; the
        # SDK has no keyword for them.
        host_config["MaskedPaths"] = []
        host_config["ReadonlyPaths"] = []
        created = local.api.create_container(
            IMAGE,
            name=name,
            labels=labels,
            environment={
                "AUTHORIZED_KEY": key.with_suffix(".pub").read_text().strip(),
                "DOCKERD_ARGS": f"--bip={prefix}.255.1/24 "
                f"--default-address-pool base={prefix}.0.0/17,size=24",
            },
            ports=[22],
            host_config=host_config,
        )
        local.api.start(created["Id"])
        container = local.containers.get(name)
        port = int(container.ports["22/tcp"][0]["HostPort"])
        config = workdir / "ssh_config"
        config.write_text(
            f"Host {ALIAS}\n"
            "  HostName 127.0.0.1\n"
            f"  Port {port}\n"
            "  User deploy\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            # A host key made at this container's start: accepted once, into a file of ours.
            "  StrictHostKeyChecking accept-new\n"
            f"  UserKnownHostsFile {workdir / 'known_hosts'}\n"
            "  LogLevel ERROR\n",
            encoding="utf-8",
        )
        host = RemoteHost(name, volume.name, ALIAS, port, config, key, workdir, local)

        def engine_answers() -> bool:
            answer = host.ssh("docker", "info", "--format", "{{.ID}}", check=False)
            return answer.returncode == 0

        try:
            wait_for(engine_answers, timeout=60, interval=0.5, what="sshd and the inner dockerd")
        except Exception as err:
            logs = container.logs().decode("utf-8", "replace")
            raise RuntimeError(f"the remote host did not come up: {err}\n{logs}") from err
        for image in images:
            # /images/NAME/get exports under the name asked for (busybox:latest), where the
            # SDK's Image.save(named=True) would take the image's first tag.
            tarball = b"".join(local.api.get_image(image))
            host.ssh("docker", "load", input=with_open_root(tarball))
        yield host
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            local.containers.get(name).remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound):
            local.volumes.get(volume.name).remove(force=True)
