"""Powertools logging and tracing of the Lambda entry points (the api/ and pipeline/ adapters).

Every entry point is wrapped by `lambda_entry`: a JSON log line carries the invocation's context
(function, request id, cold start) and its correlation id; in Lambda, the domain's stdlib loggers
(`batcheval.*`) write through the same JSON formatter, so their `extra=` fields are keys of the line
(Lambda's own handler prints plain text and drops them); with X-Ray active, the invocation is a
subsegment and every botocore call one below it.

Built at import, as Powertools documents (the decorators need the objects when the handler is
defined). That reads only POWERTOOLS_* and Lambda's reserved variables, which are fixed for a process
(no settings, clients or files), and it patches botocore for X-Ray only inside Lambda (the Tracer
turns itself off when LAMBDA_TASK_ROOT is unset: local runtime, tests). The domain loggers are routed
at the first invocation instead, once every module has registered its logger.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared import constants

Handler = TypeVar("Handler", bound=Callable[[dict[str, Any], Any], Any])

DOMAIN_LOGGER = "batcheval"
"""Parent of the domain's stdlib loggers (`logging.getLogger(__name__)` in batcheval.*)."""

# The service names are explicit: a Powertools Logger is the stdlib logger named after its service, and
# it filters that name out of the root handlers. A service named "batcheval"
# would capture and hide every domain logger.
api_logger = Logger(service="batcheval-api")
pipeline_logger = Logger(service="batcheval-pipeline")
# Only botocore is patched: the AWS calls (DynamoDB, S3, Logs, Bedrock) are the spans worth seeing.
tracer = Tracer(service="batcheval", patch_modules=("botocore",))


@functools.cache
def route_domain_logs(logger: Logger) -> bool:
    """In Lambda (once per process): the `batcheval.*` loggers write through `logger`'s JSON handler.

    Powertools' documented idiom for stdlib loggers (`copy_config_to_registered_loggers`): the handler
    and level are copied and propagation to the root (Lambda's plain-text handler) is turned off.
    Elsewhere the program's own logging setup (the local runtime's, pytest's) keeps the domain logs.
    """
    if not os.environ.get(constants.LAMBDA_TASK_ROOT_ENV):
        return False
    logging.getLogger(DOMAIN_LOGGER)  # registered even before any module made a child: later ones inherit
    copy_config_to_registered_loggers(source_logger=logger, include={DOMAIN_LOGGER})
    return True


def lambda_entry(logger: Logger, *, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Powertools' entry-point decorators in their documented order, plus the domain loggers' routing.

    Only in Lambda, which runs one invocation per process; elsewhere the handler runs undecorated.
    The response is not recorded in the trace: it may hold job data that is encrypted at rest with the
    caller's key. With tracing off there is no subsegment to record into, and the tracer's wrapper would
    only log every handler error a second time, so it is left out.
    """

    def decorate(handler: Handler) -> Handler:
        traced: Callable[..., Any] = handler
        if not tracer.disabled:
            traced = tracer.capture_lambda_handler(handler, capture_response=False)
        logged = logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path)

        @functools.wraps(handler)
        def entry(event: dict[str, Any], context: Any) -> Any:
            if not route_domain_logs(logger):
                # Outside Lambda (local runtime, tests) invocations run concurrently in one process:
                # the logger's context keys are shared, so injecting them would race (and mislabel).
                return handler(event, context)
            return logged(event, context)

        return cast(Handler, entry)

    return decorate
