"""SnapStart: what runs before Lambda snapshots the initialised function, and after a restore.

With SnapStart on, Lambda initialises the function once, when a version is published, runs
the before-snapshot hooks, snapshots the microVM (memory and disk, encrypted) and starts
new instances by restoring that snapshot, each running the after-restore hooks first. The
hooks are ``snapshot_restore_py``'s, the registry the Python runtime client calls
(``awslambdaric``, with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``).

Before the snapshot the model is loaded (fetch, key unwrap, decrypt, session), its key
resolver dropped, and one detection run on a synthetic image, so that the first request
after a restore costs what a warm one does. A model that cannot be loaded fails the hook:
Lambda then refuses to publish the version, with the reason, instead of snapshotting a
function that could only answer 503.

After a restore, what every instance restored from the one snapshot would share, or what
went stale while the snapshot waited:

- ``random``'s state (seeded once, at import, then copied into every instance): reseeded
  from ``os.urandom``, which the restored kernel keeps unique;
- the AWS clients: their pooled connections and credentials (``AwsClients.renew``);
- cached secrets: the model's key (read again at the next load), and the handler's own
  (its ``after_restore`` steps: the API handler rebuilds its token verifier and reads the
  JWT secret again, here rather than in the first request);
- the model object: when ``MODEL_URI`` names no version, its ETag is checked (one HEAD)
  and a changed model is loaded by the next request. The restore waits for that check up
  to ``RECHECK_WAIT_SECONDS``, then lets it finish in the background: checked in the
  background from the start, it slowed the first request by as much as the check costs
  (1.6 against 1.24 times a warm one), both competing for the one CPU.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable, Sequence

from aws_lambda_powertools import Logger
from PIL import Image
from snapshot_restore_py import register_after_restore, register_before_snapshot

from detector import startup
from detector.aws import AwsClients
from detector.errors import ModelUnavailableError
from detector.observability import MeasuredModel
from detector.pipeline.container import ORIENTATION_TAG

logger = Logger(child=True)  # the handler's Powertools Logger formats and filters it
RECHECK_WAIT_SECONDS = 2.0  # far above one HEAD; far below Lambda's 10 s for the hooks
# The warm-up image: a JPEG of a typical size, decoded, letterboxed and run like a request's.
WARM_UP_SIZE = (640, 480)


def register(
    model: MeasuredModel,
    clients: AwsClients,
    *,
    prepare: Sequence[Callable[[], object]] = (),
    after_restore: Sequence[Callable[[], object]] = (),
) -> None:
    """Register the hooks for this handler's model and clients. ``prepare`` builds, before
    the snapshot, what the handler would build on its first request (with the imports that
    takes); ``after_restore`` renews the handler's own secrets, after the clients."""
    register_before_snapshot(load_and_warm_up, model, tuple(prepare))
    register_after_restore(renew, model, clients, tuple(after_restore))


def load_and_warm_up(model: MeasuredModel, prepare: Sequence[Callable[[], object]] = ()) -> None:
    """Before the snapshot: the model loaded and one detection run, or a clear error."""
    for build in prepare:
        build()
    try:
        loaded = model.load_for_snapshot()
    except ModelUnavailableError as error:
        raise ModelUnavailableError(
            "SnapStart: the model must be loaded before the snapshot is taken, and it "
            f"could not be ({error.message}); no snapshot is taken and the version is not "
            "published"
        ) from None
    # The key is needed again only for another load: no reference to it in the snapshot.
    model.holder.forget_keys()
    started = time.perf_counter()
    loaded.detector.detect(warm_up_image())
    warm_up_ms = round((time.perf_counter() - started) * 1000, 3)
    # The snapshot holds the collector running and what the initialisation built frozen.
    frozen = startup.resume()
    logger.info(
        "ready for the snapshot: model loaded and warmed up",
        extra={
            "model_id": loaded.model_id,
            "timings_ms": loaded.timings_ms,
            "warm_up_ms": warm_up_ms,
            "frozen_objects": frozen,
        },
    )


def renew(
    model: MeasuredModel, clients: AwsClients, after_restore: Sequence[Callable[[], object]] = ()
) -> threading.Thread:
    """After a restore: fresh random state, clients and secrets; the model rechecked in a
    thread of its own (returned), waited for up to ``RECHECK_WAIT_SECONDS``.

    A step of the handler's that fails is logged, not raised: a failed hook fails the
    restore, and the request that follows can try again (and say what is wrong).
    """
    random.seed()  # from os.urandom
    clients.renew()
    model.holder.forget_keys()
    for step in after_restore:
        try:
            step()
        except Exception:
            name = getattr(step, "__qualname__", repr(step))
            logger.exception("after the restore, %s failed; the next request tries again", name)
    recheck = threading.Thread(target=model.holder.recheck, name="model-recheck", daemon=True)
    recheck.start()
    recheck.join(RECHECK_WAIT_SECONDS)
    logger.info("restored from the snapshot: random state, AWS clients and secrets renewed")
    return recheck


def warm_up_image() -> bytes:
    """A gradient, as a JPEG with an EXIF orientation (so that reading one runs too):
    something to decode and detect in, with nothing in it."""
    gradient = Image.linear_gradient("L").resize(WARM_UP_SIZE).convert("RGB")
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 1
    out = io.BytesIO()
    gradient.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()
