"""The optional CloudWatch dashboard (`Dashboard=true`), rendered as CloudFormation would
render it, against AWS's "Dashboard Body Structure and Syntax" (CloudWatch API reference)
and against the metrics the app really writes.

No AWS account here: a body the API rejects would fail the whole deploy, and a metric named
with the wrong dimensions would draw an empty graph without a word. So the body's `${...}`
are replaced with stand-ins, and the result is checked key by key against the page (the
quotes below), widget by widget on the 24-column grid, and metric by metric against the EMF
that the app's own recording functions and Powertools' ColdStart print, in a fresh
interpreter with the environment the template gives the function.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse
from test_template import deployed, translate

from tools.paths import FUNCTION_DIR, ROOT

# What CloudFormation puts in place of each ${...} of the body (a long stack name: they may
# have 128 characters). The test checks that each name is a resource of the expected type.
STACK = "digits-" + "s" * 121
STAND_INS = {
    "AWS::StackName": STACK,
    "AWS::Region": "ap-southeast-2",
    "HttpApi": "a1b2c3d4e5",  # Ref of an AWS::ApiGatewayV2::Api: its id
    "PredictFunction": "digits-PredictFunction-AbCdEf123456",  # Ref of a function: its name
    "PredictLogGroup": f"/aws/lambda/{STACK}-predict",  # Ref of a log group: its name
    "TracingMode": "Disabled",
}
REF_TYPES = {"HttpApi": "AWS::ApiGatewayV2::Api", "PredictFunction": "AWS::Lambda::Function",
             "PredictLogGroup": "AWS::Logs::LogGroup"}

# "Dashboard Body Structure and Syntax", the values it lists.
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
TOP_LEVEL_KEYS = {"widgets", "variables", "start", "end", "periodOverride"}
METRIC_PROPERTIES = {"accountId", "annotations", "liveData", "legend", "metrics", "period",
                     "region", "sparkline", "stacked", "stat", "table", "timezone", "title",
                     "view", "yAxis"}
METRIC_VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
# Per metric: the "Rendering Properties Object" (color, label, period, stat, visible, yAxis)
# and the fields of "Format for Each Metric in the Array" (accountId, id, label, region).
RENDERING_KEYS = {"color", "label", "period", "stat", "visible", "yAxis", "accountId", "id",
                  "region"}
STAT = re.compile(r"SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?")  # "p??"
TEXT_PROPERTIES = {"markdown", "background"}
LOG_PROPERTIES = {"accountId", "region", "title", "query", "view"}
LOG_VIEWS = {"table", "timeSeries", "bar", "pie"}
# Free tier: "3 Custom Dashboards referencing up to 50 metrics each per month".
FREE_TIER_METRICS = 50

# The metrics AWS documents for HTTP APIs (API Gateway developer guide, "Monitor CloudWatch
# metrics for HTTP APIs": 4xx, 5xx, Count, IntegrationLatency, Latency, DataProcessed;
# dimension sets ApiId | ApiId, Stage | ApiId, Stage, Route) and for functions (AWS/Lambda,
# FunctionName).
API_METRICS = {"4xx", "5xx", "Count", "IntegrationLatency", "Latency", "DataProcessed"}
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}

Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions


# ---------------------------------------------------------------- rendering

def resolve(value: Any, refs: dict[str, str], mappings: dict[str, Any]) -> Any:
    """Ref, Fn::Sub (both forms, `${!x}` escapes) and Fn::FindInMap, as CloudFormation
    resolves them; a name it does not know is a KeyError, not a silent blank."""
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        if name == "Ref":
            return refs[args]
        if name == "Fn::FindInMap":
            table, key, attribute = (resolve(a, refs, mappings) for a in args)
            return mappings[table][key][attribute]
        if name == "Fn::Sub":
            text, variables = (args, {}) if isinstance(args, str) else args
            scope = {**refs, **{k: resolve(v, refs, mappings) for k, v in variables.items()}}

            def substitute(match: re.Match[str]) -> str:
                inner = match[1]
                return "${" + inner[1:] + "}" if inner.startswith("!") else str(scope[inner])

            return re.sub(r"\$\{([^}]*)\}", substitute, text)
        raise NotImplementedError(name)
    return value


def sub_names(value: Any) -> set[str]:
    """The names a Fn::Sub refers to (its own variables excluded)."""
    text, variables = (value, {}) if isinstance(value, str) else value
    return set(re.findall(r"\$\{([^!}][^}]*)\}", text)) - set(variables)


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return yaml_parse((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="module")
def template(source) -> dict[str, Any]:
    return translate(source, {"Dashboard": "true"})


def render(template: dict[str, Any], refs: dict[str, str] = STAND_INS) -> dict[str, Any]:
    """The dashboard body CloudFormation would hand PutDashboard, parsed."""
    body = template["Resources"]["OpsDashboard"]["Properties"]["DashboardBody"]
    text = resolve(body, refs, template.get("Mappings", {}))
    assert "${" not in text, "a literal ${ (a `${!...}` escape) is left in the body"
    return json.loads(text)


def function_environment(template: dict[str, Any], refs: dict[str, str] = STAND_INS
                         ) -> dict[str, str]:
    """The predict function's environment as Lambda gets it."""
    env = template["Resources"]["PredictFunction"]["Properties"]["Environment"]["Variables"]
    return {k: str(resolve(v, refs, template.get("Mappings", {}))) for k, v in env.items()}


# ---------------------------------------------------------------- the documented structure

def metric_references(properties: dict[str, Any]) -> list[tuple[Metric, dict[str, Any]]]:
    """Each entry of a metric widget's `metrics`: [Namespace, MetricName, DimensionName,
    DimensionValue, ..., {rendering properties}], "." standing for the previous entry's."""
    found: list[tuple[Metric, dict[str, Any]]] = []
    previous: list[str] = []
    for entry in properties["metrics"]:
        assert isinstance(entry, list), entry
        assert entry, entry
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        names = entry[:-1] if options else entry
        assert "expression" not in options, "this dashboard graphs metrics, not expressions"
        assert all(isinstance(n, str) and n for n in names), entry
        names = [previous[i] if n == "." and i < len(previous) else n
                 for i, n in enumerate(names)]
        assert len(names) >= 2, f"a namespace and a name: {entry}"
        assert len(names) % 2 == 0, f"dimensions in name, value pairs: {entry}"
        assert "." not in names, entry
        previous = names
        dimensions = frozenset(zip(names[2::2], names[3::2], strict=True))
        assert len(dimensions) == len(names[2:]) // 2, f"a dimension twice: {entry}"
        assert set(options) <= RENDERING_KEYS, set(options) - RENDERING_KEYS
        found.append(((names[0], names[1], dimensions), options))
    return found


def check_period(period: Any, where: str) -> None:
    # "Valid Values: Any multiple of 60, with 60 as the minimum."
    assert isinstance(period, int), (where, period)
    assert period >= 60, (where, period)
    assert period % 60 == 0, (where, period)


def check_metric_widget(properties: dict[str, Any], region: str, where: str) -> None:
    assert set(properties) <= METRIC_PROPERTIES, (where, set(properties) - METRIC_PROPERTIES)
    assert properties["region"] == region, where  # "region ... Required: Yes"
    assert properties.get("view", "timeSeries") in METRIC_VIEWS, where
    # Optional on the page; ours always say how to draw, so the checks below see them.
    for key in ("view", "stat", "period"):
        assert key in properties, (where, key)
    assert STAT.fullmatch(properties["stat"]), (where, properties["stat"])
    check_period(properties["period"], where)
    assert isinstance(properties.get("stacked", False), bool), where
    references = metric_references(properties)
    assert 1 <= len(references) <= 500, where  # "0-500 metrics and expressions"
    for _, options in references:
        assert STAT.fullmatch(options.get("stat", properties["stat"])), (where, options)
        assert options.get("yAxis", "left") in ("left", "right"), (where, options)
        if "period" in options:
            check_period(options["period"], where)


def check_body(body: dict[str, Any], region: str, log_group: str) -> list[Metric]:
    """Every rule of the page this dashboard relies on; the metrics it references."""
    assert isinstance(body, dict), body
    assert set(body) <= TOP_LEVEL_KEYS, set(body) - TOP_LEVEL_KEYS
    # "start ... must begin with -PT if you specify a time range in minutes or hours, and
    # must begin with -P if you specify a time range in days, weeks, or months."
    if "start" in body:
        assert re.fullmatch(r"-PT\d+[MH]|-P\d+[DWM]", body["start"]), body["start"]
        assert "end" not in body
    widgets = body["widgets"]
    assert isinstance(widgets, list), widgets
    assert 1 <= len(widgets) <= 500  # "between 0 and 500 widget objects" (ours: some)
    cells: dict[tuple[int, int], int] = {}
    metrics: list[Metric] = []
    for index, widget in enumerate(widgets):
        where = f"widget {index} ({widget.get('properties', {}).get('title', widget.get('type'))})"
        # Documented for every widget: type, x, y, width, height, properties (x and y
        # each required with the other; ours also give a size, so the layout is fixed).
        assert set(widget) == {"type", "x", "y", "width", "height", "properties"}, where
        assert widget["type"] in WIDGET_TYPES, where
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y, width, height))
        assert 0 <= x <= 23, where
        assert y >= 0, where
        assert 1 <= width <= 24, where
        assert 1 <= height <= 1000, where
        assert x + width <= 24, f"{where} runs past the 24-column grid"
        for cell in ((cx, cy) for cx in range(x, x + width) for cy in range(y, y + height)):
            assert cell not in cells, f"{where} overlaps widget {cells[cell]} at {cell}"
            cells[cell] = index
        properties = widget["properties"]
        assert isinstance(properties, dict), where
        if widget["type"] == "metric":
            check_metric_widget(properties, region, where)
            metrics += [metric for metric, _ in metric_references(properties)]
        elif widget["type"] == "text":
            assert set(properties) <= TEXT_PROPERTIES, where
            assert properties["markdown"], where
        elif widget["type"] == "log":
            assert set(properties) <= LOG_PROPERTIES, (where, set(properties) - LOG_PROPERTIES)
            assert properties["region"] == region, where
            assert properties.get("view", "table") in LOG_VIEWS, where
            # "The query string starts with the names of the log groups ... pre-pend each
            # log group name with SOURCE ... Add another pipe character after the list of
            # log groups, and then specify the query syntax."
            sources = re.findall(r"SOURCE '([^']*)' \|", properties["query"])
            assert sources == [log_group], (where, properties["query"])
            assert properties["query"].startswith(f"SOURCE '{log_group}' |"), where
        else:
            pytest.fail(f"{where}: a {widget['type']} widget is not checked here")
    return metrics


# ---------------------------------------------------------------- what the app writes

EMIT_SCRIPT = """
import sys
import observability as obs
from tools.lambda_fakes import LambdaContext

# Every metric the app records: each digit and input kind, each kind of error.
obs.record_predictions(["pixels", "image"], range(10), 12.5)
for status in (400, 422, 503, 500):
    obs.record_error(status)
obs.metrics.flush_metrics()
# The first invocation of the deployed entry point writes Powertools' ColdStart; Lambda's
# context names the function as its Ref does.
handler = obs.instrument(lambda event, context: {"statusCode": 200})
handler({}, LambdaContext(function_name=sys.argv[1]))
"""


def emf_metrics(lines: list[str]) -> set[Metric]:
    """(namespace, name, dimension set) of each metric in EMF blobs, per the EMF spec:
    the dimension names are listed in `Dimensions`, their values are top-level keys."""
    found: set[Metric] = set()
    for line in lines:
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((d, str(blob[d])) for d in dimension_set)
                found |= {(directive["Namespace"], m["Name"], dims)
                          for m in directive["Metrics"]}
    return found


@pytest.fixture(scope="module")
def emitted(template) -> set[Metric]:
    """What the app writes in Lambda under the template's environment (POWERTOOLS_*)."""
    env = {k: v for k, v in function_environment(template).items()
           if k.startswith("POWERTOOLS_")}
    env |= {"PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(FUNCTION_DIR), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", EMIT_SCRIPT, STAND_INS["PredictFunction"]],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = emf_metrics(done.stdout.splitlines())
    assert any(name == "ColdStart" for _, name, _ in metrics), done.stdout
    return metrics


# ---------------------------------------------------------------- the tests

def test_body_follows_the_documented_structure(template):
    body = render(template)
    check_body(body, STAND_INS["AWS::Region"], STAND_INS["PredictLogGroup"])
    types = [w["type"] for w in body["widgets"]]
    assert types.count("log") == 1


def test_body_names_only_this_stacks_resources(template):
    """Each ${...} is a pseudo parameter, the Sub's own variable or a resource of the
    expected type; the AWS metrics carry exactly this API's id, this function's name."""
    resources = template["Resources"]
    body = resources["OpsDashboard"]["Properties"]["DashboardBody"]
    for name in sub_names(body["Fn::Sub"]):
        assert name.startswith("AWS::") or resources[name]["Type"] == REF_TYPES[name], name
    assert resources["PredictFunction"]["Properties"]["LoggingConfig"]["LogGroup"] == {
        "Ref": "PredictLogGroup"}  # the group the log widget reads
    metrics = check_body(render(template), STAND_INS["AWS::Region"],
                         STAND_INS["PredictLogGroup"])
    by_namespace: dict[str, set[tuple[str, frozenset[tuple[str, str]]]]] = {}
    for namespace, name, dims in metrics:
        by_namespace.setdefault(namespace, set()).add((name, dims))
    api = by_namespace.pop("AWS/ApiGateway")
    assert {name for name, _ in api} == {"Count", "4xx", "5xx", "Latency"} <= API_METRICS
    # {ApiId} is one of the documented sets; the API's one stage ($default) is all of it,
    # as for the 5xx alarm.
    assert {dims for _, dims in api} == {frozenset({("ApiId", STAND_INS["HttpApi"])})}
    function = by_namespace.pop("AWS/Lambda")
    assert {name for name, _ in function} == LAMBDA_METRICS
    assert {dims for _, dims in function} == {
        frozenset({("FunctionName", STAND_INS["PredictFunction"])})}
    (namespace,) = by_namespace  # the app's own, and nothing else
    assert not namespace.startswith("AWS/")


def test_percentiles_and_sums_where_asked(template):
    """Over 5 minutes, as the header says: the period of each graph is obeyed ("inherit";
    the console's "auto" would change it with the time range shown)."""
    body = render(template)
    assert body["periodOverride"] == "inherit"
    assert {w["properties"]["period"] for w in body["widgets"] if w["type"] == "metric"} == {300}
    stats: dict[str, set[str]] = {}
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for (_, name, _), options in metric_references(widget["properties"]):
                stats.setdefault(name, set()).add(options.get("stat",
                                                              widget["properties"]["stat"]))
    assert stats["Duration"] == stats["Latency"] == stats["PredictLatency"] == {"p50", "p99"}
    assert stats["ConcurrentExecutions"] == {"Maximum"}
    for name in ("Count", "4xx", "5xx", "Invocations", "Errors", "Throttles", "Predictions",
                 "ColdStart", "ClientErrors", "ModelUnavailable", "ServerErrors"):
        assert stats[name] == {"Sum"}, name


def test_app_metrics_are_exactly_those_the_app_writes(template, emitted):
    """Each app metric on the dashboard is one the app writes, with its exact dimension set
    (ColdStart: function_name and service; the others: service), and each one it writes
    is on the dashboard."""
    metrics = check_body(render(template), STAND_INS["AWS::Region"],
                         STAND_INS["PredictLogGroup"])
    shown = {m for m in metrics if not m[0].startswith("AWS/")}
    assert shown == emitted, {"not written": shown - emitted, "not shown": emitted - shown}
    names = {name for _, name, _ in emitted}
    assert {"Predictions", "PredictLatency", "ColdStart", "ServerErrors"} <= names
    assert {f"PredictedDigit{d}" for d in range(10)} <= names
    assert len(metrics) <= FREE_TIER_METRICS, len(metrics)  # each line, repeats included


def test_each_stack_has_its_own_namespace(template):
    """Two stacks in one account and region: their app metrics and dashboards never mix."""
    other = {**STAND_INS, "AWS::StackName": "other-stack"}
    ours, theirs = function_environment(template), function_environment(template, other)
    assert ours["POWERTOOLS_METRICS_NAMESPACE"] != theirs["POWERTOOLS_METRICS_NAMESPACE"]
    assert STACK in ours["POWERTOOLS_METRICS_NAMESPACE"]
    for env, refs in ((ours, STAND_INS), (theirs, other)):
        namespaces = {m[0] for m in check_body(render(template, refs), refs["AWS::Region"],
                                               refs["PredictLogGroup"])}
        assert namespaces == {"AWS/ApiGateway", "AWS/Lambda",
                              env["POWERTOOLS_METRICS_NAMESPACE"]}
    # CloudWatch namespaces: up to 255 characters, never AWS/.
    assert len(ours["POWERTOOLS_METRICS_NAMESPACE"]) <= 255


@pytest.mark.parametrize(("stack", "region"), [(STACK, "ap-southeast-2"), ("d", "us-gov-west-1")])
def test_dashboard_name_is_valid_and_the_output_links_to_it(template, stack, region):
    """Dashboard names: 1 to 255 characters, "alphanumeric characters, dashes (-), and
    underscores (_)"; dashboards are global to the account, so the name carries the region."""
    refs = {**STAND_INS, "AWS::StackName": stack, "AWS::Region": region}
    props = template["Resources"]["OpsDashboard"]["Properties"]
    name = resolve(props["DashboardName"], refs, {})
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name), name
    assert stack in name
    assert region in name
    output = template["Outputs"]["DashboardUrl"]
    assert output["Condition"] == template["Resources"]["OpsDashboard"]["Condition"]
    url = resolve(output["Value"], {**refs, "OpsDashboard": name}, {})  # Ref: its name
    assert url == (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
                   f"#dashboards/dashboard/{name}")


@pytest.mark.parametrize(("value", "created"), [("false", False), ("true", True)])
def test_dashboard_only_when_asked(source, value, created):
    """Off by default: a body the API refused would fail the whole deploy."""
    template, _, conditions = deployed(source, {"Dashboard": value})
    parameter = template["Parameters"]["Dashboard"]
    assert parameter["AllowedValues"] == ["true", "false"]
    assert parameter["Default"] == "false"
    present = {name for name, r in template["Resources"].items()
               if conditions.get(r.get("Condition"), True)}
    dashboards = {n for n, r in template["Resources"].items()
                  if r["Type"] == "AWS::CloudWatch::Dashboard"}
    assert (dashboards & present == {"OpsDashboard"}) is created
    assert (dashboards & present == set()) is not created
    outputs = {n for n, o in template["Outputs"].items()
               if conditions.get(o.get("Condition"), True)}
    assert ("DashboardUrl" in outputs) is created


# ---------------------------------------------------------------- the checks can fail

def _mutate_widget(index: int, change: Callable[[dict[str, Any]], None]
                   ) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        change(body["widgets"][index])
    return mutate


def _metric_widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    return next(w for w in body["widgets"] if w["properties"].get("title", "").startswith(title))


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "overlap": _mutate_widget(2, lambda w: w.update(y=w["y"] - 1)),
    "past the grid": _mutate_widget(3, lambda w: w.update(width=w["width"] + 1)),
    "no properties": _mutate_widget(1, lambda w: w.pop("properties")),
    "stat in lower case": _mutate_widget(1, lambda w: w["properties"].update(stat="sum")),
    "period not a multiple of 60": _mutate_widget(1, lambda w: w["properties"].update(period=90)),
    "unknown view": _mutate_widget(1, lambda w: w["properties"].update(view="line")),
    "no region": _mutate_widget(1, lambda w: w["properties"].pop("region")),
    "unknown widget type": _mutate_widget(0, lambda w: w.update(type="markdown")),
    "log query without SOURCE": lambda b: next(
        w for w in b["widgets"] if w["type"] == "log")["properties"].update(query="filter 1"),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_structure_checks_catch_a_broken_body(template, mutation):
    body = render(template)
    MUTATIONS[mutation](body)
    with pytest.raises((AssertionError, KeyError)):
        check_body(body, STAND_INS["AWS::Region"], STAND_INS["PredictLogGroup"])


APP_MUTATIONS = {
    # Powertools writes ColdStart with function_name *and* service.
    "ColdStart without function_name": ('"ColdStart", "function_name", "${PredictFunction}", ',
                                        '"ColdStart", '),
    "a metric the app does not write": ('"PredictedDigit9"', '"PredictedDigit10"'),
    "the shared namespace": ("Namespace: !Sub DigitRecognizer/${AWS::StackName}\n",
                             "Namespace: DigitRecognizer\n"),
    "a dimension named otherwise": ('"ClientErrors", "service"', '"ClientErrors", "Service"'),
}


@pytest.mark.parametrize("mutation", APP_MUTATIONS)
def test_metric_checks_catch_a_wrong_reference(emitted, mutation):
    text = (ROOT / "template.yaml").read_text()
    old, new = APP_MUTATIONS[mutation]
    assert text.count(old) >= 1, f"mutation {mutation!r} no longer applies"
    mutated = translate(yaml_parse(text.replace(old, new, 1)), {"Dashboard": "true"})
    metrics = check_body(render(mutated), STAND_INS["AWS::Region"], STAND_INS["PredictLogGroup"])
    assert {m for m in metrics if not m[0].startswith("AWS/")} != emitted


def test_rendering_refuses_unknown_names(template):
    broken = copy.deepcopy(template)
    body = broken["Resources"]["OpsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body[0] = body[0].replace("${PredictFunction}", "${PredictFunktion}", 1)
    with pytest.raises(KeyError):
        render(broken)
