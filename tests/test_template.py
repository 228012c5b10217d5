"""template.yaml: linters clean, the SAM transform succeeds, and the result is locked down;
samconfig.toml, the Makefile and .ci/run build, deploy and check what it describes."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tomllib
from typing import Any, NamedTuple

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tools.paths import ROOT
from tools.sam_build import BIN, sam_env

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


class NoManagedPolicies:
    """Policy loader for the translator that makes no IAM calls."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return yaml_parse((ROOT / "template.yaml").read_text())


def translate(source: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as CloudFormation sees it after `sam package` and the SAM transform."""
    template = copy.deepcopy(source)
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            # What `sam package` does: local folders become S3 objects.
            if key in props and not str(props[key]).startswith("s3://"):
                props[key] = f"s3://artifacts-bucket/{name}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, parameters or {}, NoManagedPolicies())


@pytest.fixture(scope="module")
def resources(source) -> dict[str, Any]:
    return translate(source)["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


def only(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    found = of_type(resources, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


@pytest.mark.parametrize(
    "command",
    [[str(BIN / "cfn-lint"), "template.yaml"], [str(BIN / "sam"), "validate", "--lint"]],
    ids=["cfn-lint", "sam-validate-lint"],
)
def test_linters_are_clean(command):
    done = subprocess.run(command, cwd=ROOT, env=sam_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_function_runtime_layer_and_environment(resources):
    fn = of_type(resources, "AWS::Lambda::Function")
    predict = fn["PredictFunction"]
    assert predict["Runtime"] == "python3.12"
    assert predict["Handler"] == "app.handler"
    assert predict["Architectures"] == [{"Ref": "Architecture"}]
    env = predict["Environment"]["Variables"]
    assert env["MODEL_DIR"] == "/opt/model"
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
            "POWERTOOLS_LOG_LEVEL"} <= set(env)  # not LOG_LEVEL: Powertools' legacy name
    assert "CORS_ALLOW_ORIGINS" not in env  # CORS lives in API Gateway only
    deps_ref, model_ref = predict["Layers"]
    model = resources[model_ref["Ref"]]["Properties"]
    assert model["CompatibleRuntimes"] == ["python3.12"]
    assert model["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    deps = resources[deps_ref["Ref"]]["Properties"]  # compiled wheels: the function's CPU only
    assert deps["CompatibleRuntimes"] == ["python3.12"]
    assert deps["CompatibleArchitectures"] == [{"Ref": "Architecture"}]


def test_each_stack_names_its_own_layers(resources):
    """Layer names are shared by every stack of the account and region: named after the
    logical IDs (the default), two stacks' layers would be versions of one layer."""
    stack = "s" * 128  # the longest stack name
    layers = of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == 3
    names = {_evaluate(props["LayerName"], {"AWS::StackName": stack}) for props in layers.values()}
    assert names == {f"{stack}-deps", f"{stack}-model", f"{stack}-site"}
    assert all(len(name) <= 140 and re.fullmatch(r"[a-zA-Z0-9_-]+", name) for name in names)
    other = {_evaluate(p["LayerName"], {"AWS::StackName": "other"}) for p in layers.values()}
    assert names.isdisjoint(other)


def test_every_layer_is_for_the_functions_cpu(resources):
    """A region without arm64 Lambda refuses a layer that names arm64."""
    layers = of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == 3
    for name, props in layers.items():
        assert props["CompatibleArchitectures"] == [{"Ref": "Architecture"}], name


def test_samconfig_configures_no_sam_sync():
    """Nothing here uses `sam sync`, and it would take the global section's stack name, not
    the one `sam deploy --guided` saved in [default.deploy.parameters]: another stack made
    or overwritten with default parameters and no post_build."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert [env for env, commands in config.items()
            if isinstance(commands, dict) and "sync" in commands] == []


@pytest.mark.parametrize(("mode", "disabled"), [("Disabled", "true"), ("Active", "false")])
def test_powertools_tracer_follows_the_tracing_mode(source, mode, disabled):
    """With tracing off, the X-Ray SDK must not load at cold start."""
    env = source["Resources"]["PredictFunction"]["Properties"]["Environment"]["Variables"]
    table, mapping, key = env["POWERTOOLS_TRACE_DISABLED"]["Fn::FindInMap"]
    assert (table, mapping["Ref"]) == ("Tracing", "TracingMode")
    assert source["Mappings"]["Tracing"][mode][key] == disabled


# The managed policies SAM attaches to the roles it makes, as AWS publishes them (AWS
# Managed Policy reference): read like the template's own statements, so a role that went
# back to one is judged by what it grants.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Resource": "*",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {"Effect": "Allow", "Resource": ["*"],
         "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                    "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]}],
}
ACCOUNT = "123456789012"
STACK_NAME = "digits"
NO_VALUE = object()


def _resolve(value: Any, refs: dict[str, str], conditions: dict[str, bool]) -> Any:
    """value as CloudFormation resolves it: each Fn::If by its condition, AWS::NoValue
    dropped, the other intrinsics by _evaluate."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            condition, if_true, if_false = value["Fn::If"]
            return _resolve(if_true if conditions[condition] else if_false, refs, conditions)
        if value == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return _evaluate(value, refs)
        resolved = {k: _resolve(v, refs, conditions) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [v for v in (_resolve(x, refs, conditions) for x in value) if v is not NO_VALUE]
    return value


def _stand_ins(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Parameter values, pseudo parameters and the resources' attributes, as a stack named
    STACK_NAME would have them; a log group's Arn is given in the documented form
    (AWS::Logs::LogGroup, return values: it ends in ":*")."""
    refs: dict[str, Any] = {name: str(p.get("Default", ""))
                            for name, p in template["Parameters"].items()}
    refs.update(parameters)
    refs.update({"AWS::StackName": STACK_NAME, "AWS::Region": "us-east-1",
                 "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                 "AWS::URLSuffix": "amazonaws.com",
                 "SiteBucket": "site-bucket", "SiteBucket.Arn": "arn:aws:s3:::site-bucket",
                 "SiteBucket.RegionalDomainName": "site-bucket.s3.us-east-1.amazonaws.com",
                 "SiteDistribution.DomainName": CLOUDFRONT_DOMAIN, "HttpApi": "api1234567",
                 "SiteOriginAccessControl.Id": "E2OAC", "SiteHeadersPolicy": "headers-policy-id"})
    for name, group in log_group_names(template).items():
        refs[name] = group
        refs[f"{name}.Arn"] = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*"
    return refs


def log_group_names(template: dict[str, Any]) -> dict[str, str]:
    return {name: _evaluate(props["LogGroupName"], {"AWS::StackName": STACK_NAME})
            for name, props in of_type(template["Resources"], "AWS::Logs::LogGroup").items()}


CLOUDFRONT_DOMAIN = "d111111abcdef8.cloudfront.net"
SITE_DOMAIN = {"SiteDomainName": "digits.example.com",
               "SiteCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                     "12345678-1234-1234-1234-123456789012"}


class Stack(NamedTuple):
    """The translated template as a stack with some parameters has it."""

    template: dict[str, Any]
    refs: dict[str, Any]
    conditions: dict[str, bool]

    def resources(self, kind: str, *path: str) -> list[Any]:
        """The properties (or the one at `path` in them), resolved, of each resource of this
        kind that its condition keeps."""
        found = []
        for resource in self.template["Resources"].values():
            if resource["Type"] == kind and self.conditions.get(resource.get("Condition"), True):
                value = resource["Properties"]
                for key in path:
                    value = value[key]
                found.append(self.resolve(value))
        return found

    def output(self, name: str) -> Any:
        return self.resolve(self.template["Outputs"][name]["Value"])

    def resolve(self, value: Any) -> Any:
        return _resolve(value, self.refs, self.conditions)


def deployed(source: dict[str, Any], parameters: dict[str, str] | None = None) -> Stack:
    parameters = parameters or {}
    template = translate(source, parameters)
    refs = _stand_ins(template, parameters)
    conditions = {name: _evaluate(c, refs) for name, c in template["Conditions"].items()}
    return Stack(template, refs, conditions)


def role_statements(stack: Stack, function: str) -> list[dict[str, Any]]:
    """Every statement the function's role grants in this stack (its managed policies'
    included)."""
    resources = stack.template["Resources"]
    role = resources[resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = [statement for policy in role.get("Policies", [])
                  for statement in stack.resolve(policy["PolicyDocument"])["Statement"]]
    for arn in stack.resolve(role.get("ManagedPolicyArns", [])):
        assert arn in MANAGED_POLICIES, f"{function}: what does {arn} grant?"
        statements += MANAGED_POLICIES[arn]
    for statement in statements:  # what allows() reads, and nothing it would misread
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow", statement
    return statements


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _iam_match(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: * is any run of characters (":" and "/" too), ? any one."""
    regex = ".*".join(".".join(map(re.escape, part.split("?"))) for part in pattern.split("*"))
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    return any(
        any(_iam_match(a, action, case_sensitive=False) for a in _as_list(s["Action"]))
        and any(_iam_match(r, resource) for r in _as_list(s["Resource"]))
        for s in statements)


def xray_actions(statements: list[dict[str, Any]]) -> set[str]:
    """The X-Ray actions granted, and any wildcard that would grant one."""
    return {a for s in statements for a in _as_list(s["Action"])
            if a.lower().startswith("xray:")
            or _iam_match(a, "xray:PutTraceSegments", case_sensitive=False)}


@pytest.mark.parametrize("parameters", [None, {"TracingMode": "Disabled"}], ids=["default", "set"])
def test_tracing_off_grants_no_xray_access(source, parameters):
    """Least privilege: no trace is written, so the role may not write any."""
    stack = deployed(source, parameters)
    function = stack.template["Resources"]["PredictFunction"]["Properties"]
    assert "TracingConfig" not in function
    assert xray_actions(role_statements(stack, "PredictFunction")) == set()


def test_active_tracing_traces_and_may_write_traces(source):
    stack = deployed(source, {"TracingMode": "Active"})
    function = stack.template["Resources"]["PredictFunction"]["Properties"]
    assert function["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}}
    statements = role_statements(stack, "PredictFunction")
    for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
        assert allows(statements, action, "*"), action  # X-Ray has no resource-level permissions


def _stream(group: str) -> str:
    """A stream of group, named as Lambda names it in a custom log group
    (YYYY/MM/DD/<function>[<version>]<environment id>)."""
    return (f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"
            ":log-stream:2026/01/31/fn[$LATEST]0123456789abcdef0123456789abcdef")


LOGGED = {"PredictFunction": "PredictLogGroup", "SitePublisherFunction": "PublisherLogGroup"}


@pytest.mark.parametrize("tracing", ["Disabled", "Active"])
@pytest.mark.parametrize("function", LOGGED)
def test_each_role_writes_only_its_own_log_group_and_creates_none(source, function, tracing):
    """Least privilege: SAM's role for a function (AWSLambdaBasicExecutionRole) may create
    and write every log group of the account. Each function's role here may write streams
    of its own group (the stack makes it) and no other, and may create no group. So the
    publisher's last log lines, which can come after the stack deleted its group (delete,
    rollback), cannot make the group again outside the stack, where it would fail the next
    deploy of that stack name ("already exists")."""
    stack = deployed(source, {"TracingMode": tracing})
    template = stack.template
    statements = role_statements(stack, function)
    groups = log_group_names(template)
    own = groups[LOGGED[function]]
    assert template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"] == {
        "Ref": LOGGED[function]}
    others = [g for name, g in groups.items() if name != LOGGED[function]]
    others += [f"/aws/lambda/{STACK_NAME}", f"{own}-old", f"/aws/lambda/other-{STACK_NAME}"]
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(statements, action, _stream(own)), action
        for group in others:
            assert not allows(statements, action, _stream(group)), (action, group)
    for group in [own, *others]:
        for arn in (f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}",
                    f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*"):
            assert not allows(statements, "logs:CreateLogGroup", arn), arn
    logs = {a for s in statements for a in _as_list(s["Action"]) if a.lower().startswith("logs:")}
    assert logs == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert all("*" not in a for s in statements for a in _as_list(s["Action"]))


def test_dependencies_layer_is_built_for_the_functions_runtime_and_cpu(source):
    layer = source["Resources"]["DepsLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/deps"


def test_api_routes_every_endpoint_on_the_default_stage(resources):
    body = only(resources, "AWS::ApiGatewayV2::Api")["Body"]
    routes = {(method.upper(), path) for path, ops in body["paths"].items() for method in ops}
    assert routes == {
        ("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/health"), ("HEAD", "/health"),
        ("GET", "/model"), ("GET", "/docs"), ("GET", "/openapi.json"),
    }
    stage = only(resources, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == "$default"  # no stage prefix: /docs and /openapi.json work


def test_api_is_throttled_and_logged(resources):
    stage = only(resources, "AWS::ApiGatewayV2::Stage")
    throttle = stage["DefaultRouteSettings"]
    assert throttle["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert throttle["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    batch = stage["RouteSettings"]["POST /predict/batch"]  # a route key the API has
    assert batch == {"ThrottlingBurstLimit": {"Ref": "BatchThrottlingLimit"},
                     "ThrottlingRateLimit": {"Ref": "BatchThrottlingLimit"}}
    log_group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]


def test_every_log_group_expires_and_goes_with_the_stack(resources):
    """Each function logs to a group of the stack's: one Lambda made itself would never
    expire and would outlive `sam delete`."""
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == 3
    for name, props in groups.items():
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert resources[name]["DeletionPolicy"] == "Delete", name
    for name, function in of_type(resources, "AWS::Lambda::Function").items():
        assert function["LoggingConfig"]["LogGroup"]["Ref"] in groups, name


def cors_of(stack: Stack) -> dict[str, Any]:
    (cors,) = stack.resources("AWS::ApiGatewayV2::Api", "Body", "x-amazon-apigateway-cors")
    return cors


def distribution_of(stack: Stack) -> dict[str, Any]:
    (config,) = stack.resources("AWS::CloudFront::Distribution", "DistributionConfig")
    return config


def test_cors_allows_only_the_site_origin(source):
    cors = cors_of(deployed(source))
    assert cors["allowOrigins"] == [
        f"https://{CLOUDFRONT_DOMAIN}",
        "https://none.invalid",  # a reserved name (RFC 2606): no page has this origin
    ]
    assert set(cors["allowMethods"]) == {"GET", "POST", "OPTIONS"}
    assert cors["allowHeaders"] == ["content-type"]
    assert "*" not in json.dumps(cors)

    dev = cors_of(deployed(source, {"ExtraCorsOrigin": "http://localhost:8000"}))
    assert dev["allowOrigins"][1] == "http://localhost:8000"


def test_the_site_is_on_cloudfronts_address_unless_given_a_domain(source):
    """No domain: CloudFront's own name and certificate, no DNS records, no alias."""
    stack = deployed(source)
    assert {"Aliases", "ViewerCertificate"}.isdisjoint(distribution_of(stack))
    assert stack.resources("AWS::Route53::RecordSetGroup") == []
    assert stack.output("SiteUrl") == f"https://{CLOUDFRONT_DOMAIN}"
    assert stack.output("SiteDistributionDomain") == CLOUDFRONT_DOMAIN


@pytest.mark.parametrize("zone", ["", "Z0123456789ABCDEFGHIJ"])
def test_the_site_answers_on_its_own_domain(source, zone):
    """SiteDomainName: CloudFront serves that name with its certificate (SNI, TLS 1.2 or
    later), the API accepts its origin beside CloudFront's (the page may be opened on
    either), SiteUrl is it, and with a hosted zone its A and AAAA records point at the
    distribution (else SiteDistributionDomain says where to point a CNAME)."""
    stack = deployed(source, {**SITE_DOMAIN, "SiteHostedZoneId": zone})
    config = distribution_of(stack)
    assert config["Aliases"] == ["digits.example.com"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": SITE_DOMAIN["SiteCertificateArn"], "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021"}
    cors = cors_of(stack)
    assert cors["allowOrigins"] == [f"https://{CLOUDFRONT_DOMAIN}", "https://digits.example.com",
                                    "https://none.invalid"]
    assert (cors["allowMethods"], cors["allowHeaders"], cors["maxAge"]) == (
        cors_of(deployed(source))["allowMethods"], ["content-type"], 600)
    assert stack.output("SiteUrl") == "https://digits.example.com"
    records = stack.resources("AWS::Route53::RecordSetGroup")
    if not zone:
        assert records == []
        return
    (group,) = records
    assert group["HostedZoneId"] == zone
    alias = {"DNSName": CLOUDFRONT_DOMAIN, "HostedZoneId": "Z2FHTSAECXBWFG"}  # CloudFront's
    assert sorted(group["RecordSets"], key=lambda r: r["Type"]) == [
        {"Name": "digits.example.com", "Type": kind, "AliasTarget": alias}
        for kind in ("A", "AAAA")]


def _rules_broken(source: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """The Rules' assertions these parameter values break, as CloudFormation checks them
    before it makes anything."""
    refs = {name: str(p.get("Default", "")) for name, p in source["Parameters"].items()}
    refs.update(parameters)
    return [assertion["AssertDescription"] for rule in source["Rules"].values()
            if _evaluate(rule["RuleCondition"], refs)
            for assertion in rule["Assertions"] if not _evaluate(assertion["Assert"], refs)]


@pytest.mark.parametrize(("parameters", "broken"), [
    ({}, []),
    (SITE_DOMAIN, []),
    ({**SITE_DOMAIN, "SiteHostedZoneId": "Z0123456789ABCDEFGHIJ"}, []),
    ({"SiteDomainName": "digits.example.com"}, ["SiteDomainName needs SiteCertificateArn"]),
    ({"SiteCertificateArn": SITE_DOMAIN["SiteCertificateArn"]}, ["SiteCertificateArn is used"]),
    ({"SiteHostedZoneId": "Z0123456789ABCDEFGHIJ"}, ["SiteHostedZoneId is used"]),
])
def test_a_domain_and_its_certificate_go_together(source, parameters, broken):
    """A domain without a certificate would fail in CloudFront minutes into the deploy; a
    certificate or zone without a domain would do nothing: each is refused first."""
    said = _rules_broken(source, parameters)
    assert [s.split(",")[0][:len(b)] for s, b in zip(said, broken, strict=True)] == broken


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("SiteDomainName", ["", "digits.example.com", "example.co.uk", "x-1.example.com"],
     ["https://digits.example.com", "Digits.Example.com", "*.example.com", "example.com/",
      "digits.example.com.", "-a.example.com", "example", "a b.example.com"]),
    ("SiteCertificateArn", ["", SITE_DOMAIN["SiteCertificateArn"]],
     [SITE_DOMAIN["SiteCertificateArn"].replace("us-east-1", "eu-west-1"),
      "12345678-1234-1234-1234-123456789012", "arn:aws:acm:us-east-1:123:certificate/x"]),
    ("SiteHostedZoneId", ["", "Z0123456789ABCDEFGHIJ", "Z2FHTSAECXBWFG"],
     ["0123456789", "z0123", "Z012 345", "/hostedzone/Z0123456789ABCDEFGHIJ"]),
])
def test_site_domain_parameters_refuse_what_cannot_work(source, name, good, bad):
    """Checked before the deploy: a certificate outside us-east-1 (CloudFront takes none),
    a URL or a wildcard for a name (a CORS origin is one exact host, in lower case)."""
    parameter = source["Parameters"][name]
    assert parameter["Default"] == ""
    for value in good:
        assert re.fullmatch(parameter["AllowedPattern"], value), value
    for value in bad:
        assert re.fullmatch(parameter["AllowedPattern"], value) is None, value
    assert parameter["ConstraintDescription"].startswith("must be ")


def test_site_bucket_is_private_and_encrypted(resources):
    bucket = only(resources, "AWS::S3::Bucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in bucket


def test_bucket_policy_admits_only_this_distribution_over_tls(resources):
    statements = only(resources, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source_arn.endswith(":distribution/${SiteDistribution}")
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _evaluate(value: Any, refs: dict[str, str]) -> Any:
    """The few intrinsics the names, comments and conditions use, as CloudFormation would
    resolve them."""
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        if name == "Ref":
            return refs[args]
        if name == "Fn::Sub" and isinstance(args, str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m[1]], args)
        args = [_evaluate(arg, refs) for arg in args]
        if name == "Fn::GetAtt":
            return refs[".".join(args)]
        if name == "Fn::Not":
            return not args[0]
        if name == "Fn::Equals":
            return args[0] == args[1]
        if name == "Fn::Join":
            return args[0].join(args[1])
        if name == "Fn::Split":
            return args[1].split(args[0])
        if name == "Fn::Select":
            return args[1][int(args[0])]
        if name.startswith("Fn::") or name == "Condition":
            raise NotImplementedError(f"{name}: evaluate it here before testing with it")
    if isinstance(value, list):
        return [_evaluate(v, refs) for v in value]
    return value


def test_oac_name_fits_for_any_stack_name(resources):
    """OAC names are account-wide and at most 64 characters; stack names may have 128."""
    config = only(resources, "AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"]
    names = set()
    for stack, region in [("s" * 128, "ap-southeast-2"), ("s" * 128, "us-east-1")]:
        uuid = f"{len(names):08d}-1111-2222-3333-444455556666"
        stack_id = f"arn:aws:cloudformation:{region}:123456789012:stack/{stack}/{uuid}"
        name = _evaluate(config["Name"], {"AWS::StackId": stack_id})
        assert len(name) <= 64, name
        assert uuid in name, name
        names.add(name)
    assert len(names) == 2  # two stacks of the same name in two regions don't collide


def test_cloudfront_comments_fit_for_any_stack_name(resources):
    """CloudFront refuses a comment over 128 characters; a stack name may have 128."""
    stack = "s" * 128
    configs = [
        only(resources, "AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"],
        only(resources, "AWS::CloudFront::Distribution")["DistributionConfig"],
        only(resources, "AWS::CloudFront::ResponseHeadersPolicy")["ResponseHeadersPolicyConfig"],
    ]
    comments = [config.get(key) for config in configs for key in ("Comment", "Description")]
    texts = [_evaluate(c, {"AWS::StackName": stack}) for c in comments if c is not None]
    assert len(texts) == 3
    assert all(len(text) <= 128 for text in texts), [len(text) for text in texts]


def test_cloudfront_uses_oac_and_https(resources):
    oac = only(resources, "AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always"  # its name: test_oac_name_fits_for_any_stack_name
    config = only(resources, "AWS::CloudFront::Distribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""  # no legacy OAI
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    assert behavior["CachePolicyId"] == CACHING_OPTIMIZED
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "SiteHeadersPolicy"}
    assert config["DefaultRootObject"] == "index.html"


def test_site_sends_security_headers(resources):
    policy = only(resources, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"  # whatever is not allowed below
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline or remote scripts
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert all(header["Override"] for header in headers.values())
    name = policy["ResponseHeadersPolicyConfig"]["Name"]  # account-wide, like the OAC's
    assert "AWS::StackId" in json.dumps(name)


def test_publisher_may_touch_only_the_site_bucket(source):
    """Beyond its log group (test_each_role_writes_only_its_own_log_group_and_creates_none)."""
    statements = role_statements(deployed(source), "SitePublisherFunction")
    bucket = [s for s in statements if not set(_as_list(s["Action"])) <= {
        "logs:CreateLogStream", "logs:PutLogEvents"}]
    assert bucket
    for statement in bucket:
        actions = _as_list(statement["Action"])
        assert all(a.startswith("s3:") and "*" not in a for a in actions), actions
        assert statement["Resource"] in (
            "arn:aws:s3:::site-bucket", "arn:aws:s3:::site-bucket/*"), statement["Resource"]


def test_the_publishers_bucket_policy_keeps_the_name_sams_role_gave_it(source):
    """An update from a stack whose publisher had SAM's role runs the publisher again (the
    layers' new names): its S3 rights must not lapse while IAM takes in a policy of another
    name. SAM names a function's first inline policy <Function>RolePolicy0; the role that
    replaced SAM's keeps the S3 statements under that name, so IAM overwrites them in place."""
    without_role = copy.deepcopy(source)
    publisher = without_role["Resources"]["SitePublisherFunction"]["Properties"]
    publisher.pop("Role")
    del without_role["Resources"]["SitePublisherFunctionRole"]  # SAM makes it, by that name
    publisher["Policies"] = [{"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                             "Resource": "*"}]}]
    sams = translate(without_role)["Resources"]["SitePublisherFunctionRole"]["Properties"]
    ours = translate(source)["Resources"]["SitePublisherFunctionRole"]["Properties"]
    (sams_name,) = [p["PolicyName"] for p in sams["Policies"]]
    (kept,) = [p for p in ours["Policies"] if p["PolicyName"] == sams_name]
    assert any(a.startswith("s3:") for st in kept["PolicyDocument"]["Statement"]
               for a in _as_list(st["Action"]))


def test_custom_resource_reruns_when_the_site_changes(resources):
    (publication,) = [r["Properties"] for r in resources.values()
                      if r["Type"] == "Custom::SitePublisher"]
    assert publication["Bucket"] == {"Ref": "SiteBucket"}
    assert publication["ApiUrl"]["Fn::Sub"].startswith("https://${HttpApi}.execute-api.")
    layer = resources[publication["SiteVersion"]["Ref"]]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"  # a new version per site change
    publisher = resources["SitePublisherFunction"]["Properties"]
    assert publisher["Layers"] == [publication["SiteVersion"]]
    assert 0 < int(publication["ServiceTimeout"]) <= 3600
    assert publisher["Timeout"] < int(publication["ServiceTimeout"])


def _publisher_version(source: dict[str, Any], code_key: str) -> str:
    """The publisher version the custom resource names, for publisher code at code_key."""
    template = copy.deepcopy(source)
    template["Resources"]["SitePublisherFunction"]["Properties"]["CodeUri"] = code_key
    resources = translate(template)["Resources"]
    (publication,) = [r["Properties"] for r in resources.values()
                      if r["Type"] == "Custom::SitePublisher"]
    version = publication["PublisherVersion"]["Ref"]
    assert resources[version]["Type"] == "AWS::Lambda::Version"
    return version


def test_custom_resource_reruns_when_the_publisher_code_changes(source):
    """New code (other headers, say) must republish the site, not wait for a site change."""
    first = _publisher_version(source, "s3://artifacts-bucket/publisher-v1.zip")
    assert _publisher_version(source, "s3://artifacts-bucket/publisher-v1.zip") == first
    assert _publisher_version(source, "s3://artifacts-bucket/publisher-v2.zip") != first


def test_outputs(source):
    stack = deployed(source)
    outputs = set(stack.template["Outputs"])
    assert {"SiteUrl", "ApiUrl", "SiteBucket", "ModelLayerVersion"} <= outputs
    assert stack.output("SiteUrl").startswith("https://")
    assert stack.output("ApiUrl") == "https://api1234567.execute-api.us-east-1.amazonaws.com"


ALARMS = {  # alarm: (namespace, metric, dimension, what it watches)
    "ApiServerErrorsAlarm": ("AWS/ApiGateway", "5xx", "ApiId", "HttpApi"),
    "PredictErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionName", "PredictFunction"),
    "PredictThrottlesAlarm": ("AWS/Lambda", "Throttles", "FunctionName", "PredictFunction"),
}


def test_alarms_watch_the_api_and_the_function_and_mail_the_topic(resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS)
    for name, (namespace, metric, dimension, watched) in ALARMS.items():
        alarm = alarms[name]
        # An HTTP API's metric is "5xx" (a REST API's "5XXError" would never fire here).
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), name
        assert alarm["Dimensions"] == [{"Name": dimension, "Value": {"Ref": watched}}], name
        assert resources[watched]["Type"] in ("AWS::ApiGatewayV2::Api", "AWS::Lambda::Function")
        # The first occurrence fires; OK again after three quiet periods, not after one
        # (one email each way per incident); quiet periods are not failures.
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1), name
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (1, 3), name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
    (subscription,) = resources["AlarmTopic"]["Properties"]["Subscription"]
    assert subscription == {"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}


def test_the_alarm_topic_is_an_output_to_subscribe_again(source):
    """A missed confirmation email is not sent again by a redeploy with the same address."""
    output = translate(source)["Outputs"]["AlarmTopicArn"]
    assert output["Value"] == {"Ref": "AlarmTopic"}
    assert output["Condition"] == "HasAlarmEmail"


@pytest.mark.parametrize(("email", "alarmed"), [("", False), ("ops@example.com", True)])
def test_alarms_exist_only_with_an_email_to_tell(source, email, alarmed):
    """No address, no alarms: an idle stack then costs nothing for them."""
    template, _, conditions = deployed(source, {"AlarmEmail": email})
    pattern = template["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, email)
    present = {name for name, r in template["Resources"].items()
               if conditions.get(r.get("Condition"), True)}
    assert ({"AlarmTopic", *ALARMS} <= present) is alarmed
    assert ({"AlarmTopic", *ALARMS} & present == set()) is not alarmed


@pytest.mark.parametrize("ceiling", ["2.5", "-1", "", "ten", "00", "0000", "007"])
def test_the_concurrency_ceiling_must_be_a_whole_number(source, ceiling):
    """Refused by CloudFormation's parameter check, not by Lambda after CloudFront is made.
    "00" is no "0" to HasConcurrencyCeiling: it would reserve 0 copies, throttling all."""
    assert re.fullmatch(source["Parameters"]["MaxConcurrency"]["AllowedPattern"], ceiling) is None


WHOLE_NUMBERS = {  # parameter: the whole numbers it takes
    "MaxConcurrency": range(0, 10000),
    "FunctionMemorySize": range(1024, 10241),
    "ThrottlingBurstLimit": range(1, 10**9),
    "BatchThrottlingLimit": range(1, 10**9),  # a burst limit too
}


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
def test_whole_number_parameters_refuse_fractions_before_the_deploy(source, name):
    """A Number parameter takes 2.5, which Lambda or API Gateway refuses mid-deploy (after
    CloudFront is made); MinValue/MaxValue are for Numbers only, so the pattern holds the
    range. Every number below 20,000 is tried, and the range's ends."""
    parameter = source["Parameters"][name]
    assert parameter["Type"] == "String"
    assert {"MinValue", "MaxValue"}.isdisjoint(parameter)
    pattern, expected = parameter["AllowedPattern"], WHOLE_NUMBERS[name]
    assert re.fullmatch(pattern, parameter["Default"])
    taken = {n for n in range(20000) if re.fullmatch(pattern, str(n))}
    assert taken == {n for n in range(20000) if n in expected}
    assert re.fullmatch(pattern, str(expected[-1]))
    assert re.fullmatch(pattern, str(expected[-1] + 1)) is None
    for wrong in ["2.5", "1769.0", "1e3", "-1", "", " 50", "050", "00", "ten", "5\n"]:
        assert re.fullmatch(pattern, wrong) is None, wrong
    assert parameter["ConstraintDescription"].startswith("must be ")


@pytest.mark.parametrize("email", ["ops", "ops@example", "ops @example.com", "a@b.c,d@e.f"])
def test_alarm_email_must_be_one_address(source, email):
    pattern = source["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, email) is None


@pytest.mark.parametrize(("ceiling", "reserved"), [("0", None), ("5", "5")])
def test_the_function_has_a_concurrency_ceiling_only_when_asked(source, ceiling, reserved):
    """0 reserves nothing: an account limited to 10 (new ones) cannot reserve any."""
    template, _, conditions = deployed(source, {"MaxConcurrency": ceiling})
    parameter = template["Parameters"]["MaxConcurrency"]
    assert parameter["Default"] == "0"
    assert re.fullmatch(parameter["AllowedPattern"], ceiling)
    prop = template["Resources"]["PredictFunction"]["Properties"]["ReservedConcurrentExecutions"]
    condition, if_true, if_false = prop["Fn::If"]
    chosen = if_true if conditions[condition] else if_false
    value = _evaluate(chosen, {"MaxConcurrency": ceiling, "AWS::NoValue": None})
    assert value == reserved


@pytest.mark.parametrize("parameters", [{}, SITE_DOMAIN], ids=["cloudfront", "own-domain"])
def test_cors_lets_the_readmes_json_client_through_its_preflight(source, parameters):
    """The README's clients POST with content-type: application/json, which a browser
    preflights asking for that header: refused, such a client on ExtraCorsOrigin cannot call."""
    cors = cors_of(deployed(source, parameters))
    assert "content-type" in [h.lower() for h in cors["allowHeaders"]]
    assert "OPTIONS" in cors["allowMethods"]


@pytest.mark.parametrize("origin", ["http://localhost:8000", "https://digits.example.com",
                                    "http://127.0.0.1:3000", "https://none.invalid"])
def test_the_extra_cors_origin_takes_one_origin(source, origin):
    assert re.fullmatch(source["Parameters"]["ExtraCorsOrigin"]["AllowedPattern"], origin)


@pytest.mark.parametrize("origin", ["*", "https://*", "https://*.example.com", "null", "",
                                    "localhost:8000", "https://example.com/",
                                    "https://example.com/page", "https://a.example,https://b.example",
                                    "https://a.example https://b.example", "ftp://example.com"])
def test_the_extra_cors_origin_refuses_what_would_open_the_api_wider(source, origin):
    """Not a wildcard (an HTTP API takes `https://*` for every https origin), not a list,
    not a URL with a path (which no browser sends as its Origin, so the origin meant would be
    refused): refused before the deploy."""
    assert re.fullmatch(source["Parameters"]["ExtraCorsOrigin"]["AllowedPattern"], origin) is None


def test_the_bucket_and_its_objects_refuse_plain_http(resources):
    """aws:SecureTransport on the objects alone would leave ListBucket and the bucket's
    settings reachable without TLS."""
    statements = only(resources, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    refs = {"SiteBucket.Arn": "arn:aws:s3:::site-bucket", "SiteBucket": "site-bucket"}
    covered = [_evaluate(r, refs) for r in _as_list(deny["Resource"])]
    for arn in ("arn:aws:s3:::site-bucket", "arn:aws:s3:::site-bucket/index.html"):
        assert any(_iam_match(pattern, arn) for pattern in covered), arn


def test_the_page_may_connect_only_to_its_own_origin_and_this_regions_apis(resources):
    """connect-src is what stops an injected script sending the drawing elsewhere."""
    policy = only(resources, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["connect-src"].split() == [
        "'self'", "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}"]
    assert directives["base-uri"] == directives["form-action"] == "'none'"


def test_the_publisher_has_time_to_publish_before_its_guard_answers_failed(resources):
    """The publisher answers FAILED TIMEOUT_MARGIN_S before Lambda's limit: a Timeout near
    that margin fails every deploy at once, and the site takes a minute at most to upload."""
    import publisher

    timeout = resources["SitePublisherFunction"]["Properties"]["Timeout"]
    assert timeout - publisher.TIMEOUT_MARGIN_S >= 60


def test_old_layer_versions_go_with_the_stack(resources):
    """Each deploy of a change publishes a layer version (the model's is tens of MB):
    retained, they would pile up in the account after the stack is gone."""
    layers = {name: r for name, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"}
    assert len(layers) == 3
    for name, layer in layers.items():
        assert layer.get("DeletionPolicy") == "Delete", name


def test_the_site_bucket_goes_with_the_stack(resources):
    """The publisher empties it on delete so that CloudFormation can delete it: retained, each
    `sam delete` would leave a bucket behind in the account."""
    (name,) = [n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
    assert resources[name]["DeletionPolicy"] == "Delete"
    assert resources[name]["UpdateReplacePolicy"] == "Delete"


# ---------------------------------------------------------------- samconfig and the Makefile


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def _overrides(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())


def test_samconfig_deploys_what_the_template_needs(source):
    """The stack makes IAM roles (unnamed: CAPABILITY_IAM, not NAMED_IAM) and local code
    that `sam deploy` must upload somewhere: without either, every deploy is refused."""
    deploy = _samconfig()["default"]["deploy"]["parameters"]
    roles = [r for r in source["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    assert all("RoleName" not in r["Properties"] for r in roles)
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy.get("resolve_s3") is True or deploy.get("s3_bucket")


def test_samconfig_builds_for_arm64_and_the_local_build_for_this_pc_elsewhere(source):
    """`make build` (arm64, the cheaper CPU) and `make start-api` (x86_64, for Docker on a
    PC) must not write one folder: the deployable build would hold x86_64 binaries."""
    config = _samconfig()
    allowed = source["Parameters"]["Architecture"]["AllowedValues"]
    default = _overrides(config["default"]["global"]["parameters"]["parameter_overrides"])
    assert default["Architecture"] == "arm64"
    assert "arm64" in allowed
    local_build = config["local"]["build"]["parameters"]
    local_api = config["local"]["local_start_api"]["parameters"]
    for section in (local_build, local_api):
        assert _overrides(section["parameter_overrides"])["Architecture"] == "x86_64"
    build_dir = local_build["build_dir"].rstrip("/")
    assert build_dir != ".aws-sam/build"  # sam build's default: make build's
    assert local_api["template_file"] == f"{build_dir}/template.yaml"
    makefile = (ROOT / "Makefile").read_text()
    assert f"-m tools.post_build {build_dir}\n" in makefile  # start-api finishes that build


def _make_dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_test_lints_and_ci_fails_on_a_skip(tmp_path):
    """.ci/run is CI's entry point: CI=1 turns a missing piece's skip into a failure
    (conftest.skip_or_fail), and `make test` runs ruff before pytest."""
    recorded = tmp_path / "make-calls"
    fake_make = tmp_path / "make"
    fake_make.write_text(f'#!/bin/sh\necho "CI=$CI $*" >> {recorded}\n')
    fake_make.chmod(0o755)
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True,
                          env={**os.environ, "CI": "", "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert recorded.read_text().splitlines() == ["CI=1 test"]
    lines = _make_dry_run("test").splitlines()
    ruff = [i for i, line in enumerate(lines) if line.endswith("ruff check .")]
    pytest_runs = [i for i, line in enumerate(lines) if line.endswith("-m pytest")]
    assert ruff, lines
    assert pytest_runs, lines
    assert ruff[0] < pytest_runs[0], lines
