"""Starting a local Ray instance, or connecting to a cluster, for the length of a run."""

import contextlib
import logging
import os

logger = logging.getLogger(__name__)

# Ray 2.59 and later turn on token authentication for every local instance and
# log a WARNING saying so at each start. Token authentication is what a local
# run should have, so the notice is dropped rather than shown on every run.
_RAY_TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
_RAY_TOKEN_NOTICE = "Token authentication is enabled"

# Seconds to wait for a TCP connection to a cluster's address before ray.init.
CONNECT_TIMEOUT_S = 5.0


def _is_not_token_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(_RAY_TOKEN_NOTICE)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None):
    """Connect to Ray for the ``with`` block.

    Without ``address`` a local Ray instance is started (no dashboard, quiet logs)
    and shut down at the end. With ``address`` (``host:port`` or ``auto``) the run
    joins an existing cluster and leaves it running.

    Args:
        address: the cluster to join, or None for a local instance.
        num_cpus: CPUs of the local instance; None lets Ray count them.

    Yields:
        The ``ray`` module, initialized.
    """
    import ray

    if ray.is_initialized():
        # A caller (a notebook, a test fixture) already owns the connection.
        yield ray
        return

    # Workers inherit this; it stops each from printing its own start-up lines.
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    options = dict(include_dashboard=False, log_to_driver=True, logging_level=logging.WARNING)
    if address is None:
        logger.info("starting a local Ray instance")
        notices = logging.getLogger(_RAY_TOKEN_NOTICE_LOGGER)
        notices.addFilter(_is_not_token_notice)
        try:
            ray.init(num_cpus=num_cpus, **options)
        finally:
            notices.removeFilter(_is_not_token_notice)
    else:
        logger.info("connecting to the Ray cluster at %s", address)
        check_reachable(address)
        try:
            ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as error:
            from evolve.errors import UserInputError

            raise UserInputError(
                f"cannot connect to the Ray cluster at {address!r}: {error}. "
                "Check the address printed by `ray start --head`, or omit --address for a local run."
            ) from error
    try:
        yield ray
    finally:
        ray.shutdown()
        logger.info("Ray shut down")


def check_reachable(address: str) -> None:
    """Fail fast when nothing listens at ``host:port``, where ray.init would retry for minutes.

    Addresses Ray resolves itself (``auto``, ``ray://...``) are left to Ray.
    """
    import socket

    from evolve.errors import UserInputError

    host, separator, port = address.rpartition(":")
    if not separator or "://" in address or not port.isdigit():
        return
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise UserInputError(
            f"cannot reach the Ray cluster at {address!r}: {error}. "
            "Check the address printed by `ray start --head`, or omit --address for a local run."
        ) from error

