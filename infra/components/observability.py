"""Alarms (to a KMS-encrypted SNS topic) and one dashboard for the operator."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.components.storage import Storage
from infra.config import BatchEvalConfig

_PERIOD = Duration.minutes(5)
_MINUTE = Duration.minutes(1)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BatchEvalConfig,
        storage: Storage,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.Function],
        rest_api: apigw.RestApi,
        dead_letter_queues: Mapping[str, sqs.Queue],
        execution_logs: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Alarms", display_name=f"{config.resource_prefix} alarms", master_key=storage.key
        )
        self.topic.add_to_resource_policy(_tls_only(self.topic))
        if config.alarmEmail:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarmEmail))
        alarm_action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(name: str, metric: cloudwatch.Metric, description: str) -> None:
            created = metric.create_alarm(
                self,
                name,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(alarm_action)
            self.alarms.append(created)

        for ending, metric in {
            "Failed": state_machine.metric_failed(period=_PERIOD),
            "TimedOut": state_machine.metric_timed_out(period=_PERIOD),
        }.items():
            alarm(f"Executions{ending}", metric, f"A batch evaluation execution {ending.lower()}.")
        for name, function in functions.items():
            alarm(f"{name}Errors", function.metric_errors(period=_PERIOD), f"{name} raised errors.")
            alarm(f"{name}Throttles", function.metric_throttles(period=_PERIOD), f"{name} was throttled.")
        alarm("Api5xx", rest_api.metric_server_error(period=_PERIOD), "The API answered 5xx.")
        for name, queue in dead_letter_queues.items():
            alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(period=_PERIOD),
                f"{name} holds undelivered events: inspect and redrive them.",
            )
        self.dashboard = self._dashboard(config, state_machine, functions, rest_api, execution_logs)

    def _dashboard(
        self,
        config: BatchEvalConfig,
        machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.Function],
        rest_api: apigw.RestApi,
        execution_logs: logs.ILogGroup,
    ) -> cloudwatch.Dashboard:
        started = machine.metric_started(period=_PERIOD, label="started")
        ended = [
            machine.metric_succeeded(period=_PERIOD),
            machine.metric_failed(period=_PERIOD),
            machine.metric_aborted(period=_PERIOD),
            machine.metric_timed_out(period=_PERIOD),
        ]
        running = cloudwatch.MathExpression(
            expression="started - (succeeded + failed + aborted + timedout)",
            using_metrics={
                "started": started,
                "succeeded": ended[0],
                "failed": ended[1],
                "aborted": ended[2],
                "timedout": ended[3],
            },
            label="net started (started - ended) per period",
            period=_PERIOD,
        )
        # Every ScoreBatch result ({"scored", "failed", "remaining"}) is in the execution log (level
        # ALL, child executions included): summed per minute, that is sessions scored per minute.
        sessions = cloudwatch.LogQueryWidget(
            title="Sessions scored / failed per minute",
            log_group_names=[execution_logs.log_group_name],
            query_lines=[
                'filter type = "TaskSucceeded" and details.output like /scored/',
                r'parse details.output /\\?"scored\\?":(?<scored>\d+)/',
                r'parse details.output /\\?"failed\\?":(?<failed>\d+)/',
                "stats sum(scored) as sessionsScored, sum(failed) as sessionsFailed by bin(1m)",
            ],
            view=cloudwatch.LogQueryVisualizationType.LINE,
            width=12,
        )
        judge_throttles = [
            cloudwatch.Metric(
                namespace="AWS/Bedrock",
                metric_name="InvocationThrottles",
                dimensions_map={"ModelId": model_id},
                statistic="Sum",
                period=_MINUTE,
                label=f"throttles {model_id}",
            )
            for model_id in config.judge.modelIds
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=config.resource_prefix)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Jobs (executions)", left=[started, *ended], right=[running], width=12
            ),
            sessions,
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Judge throttling (Bedrock)", left=judge_throttles, width=12),
            cloudwatch.GraphWidget(
                title="API",
                left=[rest_api.metric_count(period=_PERIOD), rest_api.metric_client_error(period=_PERIOD)],
                right=[rest_api.metric_server_error(period=_PERIOD)],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors and throttles",
                left=[f.metric_errors(period=_PERIOD, label=f"{n} errors") for n, f in functions.items()],
                right=[
                    f.metric_throttles(period=_PERIOD, label=f"{n} throttles") for n, f in functions.items()
                ],
                width=24,
            )
        )
        return dashboard


def _tls_only(topic: sns.Topic) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="TlsOnly",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["sns:Publish"],
        resources=[topic.topic_arn],
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )
