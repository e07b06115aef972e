#!/bin/sh
# PID 1 of the test remote host (stackup-test/remote-host): make the container able to run
# a dockerd of its own, start that dockerd detached, then run sshd in the foreground.
#
#   AUTHORIZED_KEY   the public key the `deploy` user logs in with (required)
#   DOCKERD_ARGS     extra dockerd arguments (the fixture passes --bip and address pools
#                    that clash with no network of the outer engine)
set -eu

# Docker mounts /sys and the cgroup v1 controllers read-only in an unprivileged container;
# the inner dockerd needs to create cgroups and write to /sys. The container has the
# capabilities for a remount (--cap-add ALL; --privileged is refused on these machines).
# A bind remount changes the flag of this mount only (a plain remount of a cgroup v1
# hierarchy's superblock is refused as busy). On cgroup v2 the loop sees one mount.
mount -o remount,bind,rw /sys 2>/dev/null || true
for dir in /sys/fs/cgroup /sys/fs/cgroup/*; do
  if mountpoint -q "$dir" 2>/dev/null; then mount -o remount,bind,rw "$dir" 2>/dev/null || true; fi
done

: "${AUTHORIZED_KEY:?AUTHORIZED_KEY must hold the public key deploy logs in with}"
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
printf '%s\n' "$AUTHORIZED_KEY" >/home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys
chmod 0600 /home/deploy/.ssh/authorized_keys

ssh-keygen -A >/dev/null
install -d -m 0755 /run/sshd

# The inner dockerd: its own netns (this container's), so it cannot touch the outer
# engine's bridge; /var/lib/docker is a volume (overlay on overlay does not nest).
# shellcheck disable=SC2086
setsid dockerd --storage-driver="${DOCKERD_STORAGE_DRIVER:-vfs}" ${DOCKERD_ARGS:-} \
  </dev/null >/var/log/dockerd.log 2>&1 &

# sshd logs to stderr (-e), which is the container's log: tests count sessions there.
exec /usr/sbin/sshd -D -e
