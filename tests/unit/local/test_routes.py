import pytest

from batcheval.local.routes import ROUTES, handler_module, match_route


@pytest.mark.parametrize(
    ("method", "path", "operation", "params"),
    [
        ("POST", "/evaluations/batch-evaluate", "StartBatchEvaluation", {}),
        ("GET", "/evaluations/batch-evaluate", "ListBatchEvaluations", {}),
        ("GET", "/evaluations/batch-evaluate/be-1", "GetBatchEvaluation", {"batchEvaluationId": "be-1"}),
        (
            "DELETE",
            "/evaluations/batch-evaluate/be-1",
            "DeleteBatchEvaluation",
            {"batchEvaluationId": "be-1"},
        ),
        (
            "POST",
            "/evaluations/batch-evaluate/be-1/stop",
            "StopBatchEvaluation",
            {"batchEvaluationId": "be-1"},
        ),
        (
            "get",
            "/evaluations/batch-evaluate/be%2F1%20x",
            "GetBatchEvaluation",
            {"batchEvaluationId": "be/1 x"},
        ),
    ],
)
def test_each_operation_is_found_with_decoded_path_parameters(method, path, operation, params):
    matched = match_route(method, path)
    assert matched is not None
    assert matched.route.operation == operation
    assert matched.path_parameters == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/evaluations/batch-evaluate"),
        ("GET", "/evaluations/batch-evaluate/be-1/stop"),
        ("POST", "/evaluations/batch-evaluate/be-1"),
        ("GET", "/evaluations/batch-evaluate/"),
        ("GET", "/evaluations//batch-evaluate"),
        ("GET", "/evaluations/batch-evaluate//stop"),
        ("GET", "/"),
        ("GET", "/evaluations"),
    ],
)
def test_anything_else_has_no_route(method, path):
    assert match_route(method, path) is None


def test_every_operation_has_a_handler_module_named_after_it():
    assert {handler_module(route) for route in ROUTES} == {
        "batcheval.api.handlers.start_batch_evaluation",
        "batcheval.api.handlers.get_batch_evaluation",
        "batcheval.api.handlers.list_batch_evaluations",
        "batcheval.api.handlers.stop_batch_evaluation",
        "batcheval.api.handlers.delete_batch_evaluation",
        "batcheval.api.handlers.retry_failed_batch_evaluation",
    }
