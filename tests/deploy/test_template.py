"""template.yaml agrees with the code: environment, routes, prefixes and least privilege.

The template is read as CloudFormation reads it and after SAM's transform (the roles SAM
generates are what AWS enforces), through infra/sam_template.py in the tools virtualenv.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from detector import settings
from detector.model import artifact
from detector.settings import Settings
from tests.deploy.cfn import as_list, branches, evaluate, function_environment, with_conditions
from tests.deploy.conftest import REPO_ROOT

FUNCTIONS = ("DetectApi", "DetectUploads")
# Variables that are not ours: boto3's endpoint override and Powertools' own settings.
FOREIGN_PREFIXES = ("AWS_", "POWERTOOLS_")

# Settings the template deliberately leaves to the code's defaults, and why. A setting added
# to settings.py fails test_every_setting_is_set_or_deliberately_left_to_its_default until it
# is set in template.yaml or listed here.
LEFT_TO_DEFAULTS = {
    settings.MODEL_FAMILY: "the sealed header names the family",
    settings.MODEL_NAMES_FILE: "the sealed header carries the class names",
    settings.MODEL_KEY_B64: "local development only: a key in the environment",
    settings.MODEL_CACHE_DIR: "the default is under /tmp, Lambda's only writable folder",
    settings.ORT_THREADS: "the code counts the CPUs the function may use",
    settings.LAMBDA_MEMORY_MB: "Lambda sets it from MemorySize",
    settings.INITIALIZATION_TYPE: "Lambda sets it: on-demand, or snap-start with SnapStart",
    settings.RUNTIME_API: "Lambda sets it for its runtime client",
    settings.CONF_THRESHOLD: "the product default; each request may override it",
    settings.IOU_THRESHOLD: "the product default; each request may override it",
    settings.MAX_DET: "the product default; each request may override it",
    settings.MAX_IMAGE_BYTES: "the code's limit is above the 6 MB Lambda payload",
    settings.MAX_IMAGE_PIXELS: "the code's limit fits the default memory size",
    settings.MAX_JPEG_SCANS: "the code's limit keeps the worst JPEG's decode within seconds",
    settings.MAX_IMAGE_CHUNKS: "the code's limit is far above what encoders write",
    settings.JWT_SECRET: "local development only: a signing secret in the environment",
    settings.JWT_PUBLIC_KEY: "in AWS, RS256/ES256 keys come from JwtJwksUrl",
    settings.JWT_ALGORITHMS: "the code derives the allow-list from the key type",
    settings.JWT_LEEWAY_SECONDS: "the code's small default leeway",
    settings.ANNOTATED_MAX_SIDE: "a 2048-pixel preview keeps API answers under 6 MB",
}
LEFT_TO_DEFAULTS_BY_FUNCTION = {
    "DetectApi": {
        settings.RESULTS_BUCKET: "the API writes no result files",
        settings.ANNOTATE: "an API request asks for the annotated image itself",
    },
    "DetectUploads": {
        settings.JWT_SECRET_ID: "the S3 path has no tokens",
        settings.JWT_JWKS_URL: "the S3 path has no tokens",
        settings.JWT_ISSUER: "the S3 path has no tokens",
        settings.JWT_AUDIENCE: "the S3 path has no tokens",
        settings.JWT_REQUIRED_SCOPE: "the S3 path has no tokens",
        settings.RESULTS_BUCKET: "results go beside the uploads, in the stack's bucket",
    },
}
ROUTES = {("POST", "/detect"), ("GET", "/model"), ("GET", "/health"), ("GET", "/")}

STACK_KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
# Values to evaluate the template's expressions with.
PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "ModelUri": "s3://my-models/yolox/nano-v3.sealed?versionId=3HL4kqtJlcpXroDTDmJ",
    "ModelId": "yolox-nano-v3",
    "ModelKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "ModelKeySecretName": "detector/model-key",
    "ModelKeyParameterName": "/detector/model-key",
    "JwtSecretName": "detector/jwt",
    "ApiReservedConcurrency": "",
    "StackKmsKeyArn": STACK_KEY,
    "UploadsAccessLogBucket": "",
    "SnapStart": "None",
    "Tracing": "Active",
    "UploadsBucket.Arn": "arn:aws:s3:::detector-uploads-123456789012-1a2b3c4d",
    "UploadQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:uploads",
}
# The template parameter of each model key mode, and the one action that reads its key.
KEY_MODES = {
    "ModelKmsKeyArn": "kms:Decrypt",
    "ModelKeySecretName": "secretsmanager:GetSecretValue",
    "ModelKeyParameterName": "ssm:GetParameter",
}
# Where each kind of resource that keeps data at rest names its KMS key.
KEY_PATHS = {
    "AWS::Lambda::Function": ("KmsKeyArn",),
    "AWS::Logs::LogGroup": ("KmsKeyId",),
    "AWS::SQS::Queue": ("KmsMasterKeyId",),
    "AWS::S3::Bucket": (
        "BucketEncryption",
        "ServerSideEncryptionConfiguration",
        0,
        "ServerSideEncryptionByDefault",
        "KMSMasterKeyID",
    ),
}
AWS_MANAGED_POLICIES = {
    # CloudWatch Logs, which Lambda writes to, and X-Ray for Tracing: Active
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


def setting_names() -> set[str]:
    """Every environment variable the code reads: the public str constants of settings.py."""
    return {
        value
        for name, value in vars(settings).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def broken_rules(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """What CloudFormation's Rules say against deploying with these parameter values."""
    messages = []
    for rule in template["Rules"].values():
        if evaluate(rule.get("RuleCondition", True), values):
            messages += [
                a["AssertDescription"]
                for a in rule["Assertions"]
                if not evaluate(a["Assert"], values)
            ]
    return messages


def role_statements(
    transformed: dict[str, Any], function: str, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every statement the function's role may carry: under any parameter values, or with
    `values` (conditions included, see with_conditions) under those."""
    resources = transformed["Resources"]
    role = resources[resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    policies = branches(role.get("Policies", []), values)
    documents = [policy["PolicyDocument"] for policy in policies]
    for arn in role["ManagedPolicyArns"]:
        if isinstance(arn, dict):
            documents.append(resources[arn["Ref"]]["Properties"]["PolicyDocument"])
        else:
            assert arn in AWS_MANAGED_POLICIES, f"{function} gets the managed policy {arn}"
    return [
        statement for document in documents for statement in branches(document["Statement"], values)
    ]


def statements_allowing(transformed, function: str, action: str) -> list[dict[str, Any]]:
    return [s for s in role_statements(transformed, function) if action in as_list(s["Action"])]


def value_at(node: Any, path: tuple[str | int, ...], values: dict[str, Any]) -> Any:
    """The value at `path` in a resource's properties, Fn::If resolved on the way; None when
    a step is missing or AWS::NoValue."""
    for step in path:
        if isinstance(node, dict) and "Fn::If" in node:
            node = evaluate(node, values)
        if node is None or (isinstance(node, dict) and step not in node):
            return None
        node = node[step]
    return evaluate(node, values)


def stack_key_values(template: dict[str, Any], key: str) -> dict[str, Any]:
    """PARAMETERS with StackKmsKeyArn set to `key` ("" - none), conditions included."""
    return with_conditions(template, PARAMETERS | {"StackKmsKeyArn": key})


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_setting_is_set_or_deliberately_left_to_its_default(sam_template, function):
    # GIVEN the variables the deployed function gets (Globals merged in by SAM)
    declared = set(function_environment(sam_template["transformed"], function))
    left = set(LEFT_TO_DEFAULTS) | set(LEFT_TO_DEFAULTS_BY_FUNCTION[function])

    # THEN each variable the code reads is either set or listed as left to its default
    assert setting_names() - declared - left == set()
    assert declared & left == set(), "set in the template, yet listed as left to its default"
    # and the template sets nothing the code does not read (a typo would go unnoticed)
    ours = {name for name in declared if not name.startswith(FOREIGN_PREFIXES)}
    assert ours <= setting_names()


def test_the_defaults_list_names_only_real_settings():
    listed = set(LEFT_TO_DEFAULTS).union(*LEFT_TO_DEFAULTS_BY_FUNCTION.values())

    assert listed <= setting_names()


def test_the_api_function_serves_exactly_the_product_routes(sam_template):
    events = sam_template["template"]["Resources"]["DetectApi"]["Properties"]["Events"]

    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}

    assert routes == ROUTES
    assert {event["Type"] for event in events.values()} == {"HttpApi"}


def test_results_are_written_where_the_upload_notification_cannot_see_them(sam_template):
    # GIVEN the prefix the bucket notifies on and the prefixes the upload function writes to
    resources = sam_template["template"]["Resources"]
    notification = resources["UploadsBucket"]["Properties"]["NotificationConfiguration"]
    [queue] = notification["QueueConfigurations"]
    [rule] = queue["Filter"]["S3Key"]["Rules"]
    env = function_environment(sam_template["transformed"], "DetectUploads")
    uploads = env[settings.UPLOADS_PREFIX]
    outputs = [env[settings.RESULTS_PREFIX], env[settings.ANNOTATED_PREFIX]]
    bucket = PARAMETERS["UploadsBucket.Arn"]

    # THEN the notification filters on the uploads prefix the code expects
    assert rule == {"Name": "prefix", "Value": uploads}
    assert queue["Queue"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    # and no key the function writes can start with it
    for output in outputs:
        assert not output.startswith(uploads) and not uploads.startswith(output)
    # and the function may write under those prefixes only
    [write] = statements_allowing(sam_template["transformed"], "DetectUploads", "s3:PutObject")
    assert evaluate(write["Resource"], PARAMETERS) == [f"{bucket}/{p}*" for p in outputs]
    # and it serves the stack's bucket only, writing results beside the uploads
    assert env[settings.INPUT_BUCKETS] == {"Ref": "UploadsBucket"}
    assert settings.RESULTS_BUCKET not in env


def test_only_the_upload_function_writes_to_s3(sam_template):
    assert statements_allowing(sam_template["transformed"], "DetectApi", "s3:PutObject") == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_roles_allow_no_wildcard_actions_or_resources(sam_template, function):
    values = with_conditions(sam_template["template"], PARAMETERS)
    for statement in role_statements(sam_template["transformed"], function):
        assert statement["Effect"] == "Allow"
        assert not [action for action in as_list(statement["Action"]) if "*" in action]
        for resource in as_list(evaluate(statement["Resource"], values)):
            # only object keys under a prefix may end in *, never a whole bucket or service
            assert resource != "*"
            assert not resource.endswith(":::*") and not re.search(r":::[^/]+/\*$", resource)


@pytest.mark.parametrize(
    ("function", "prefixes"),
    [("DetectApi", ["uploads/"]), ("DetectUploads", ["uploads/", "detections/"])],
)
def test_functions_read_the_model_object_and_their_own_prefixes_only(
    sam_template, function, prefixes
):
    reads = statements_allowing(sam_template["transformed"], function, "s3:GetObject")

    resources = {r for s in reads for r in as_list(evaluate(s["Resource"], PARAMETERS))}

    bucket = PARAMETERS["UploadsBucket.Arn"]
    model = "arn:aws:s3:::my-models/yolox/nano-v3.sealed"
    assert resources == {model} | {f"{bucket}/{prefix}*" for prefix in prefixes}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_missing_key_reads_as_not_found_rather_than_forbidden(sam_template, function):
    # S3 answers 403 for a missing key unless the caller may list the bucket; the upload
    # handler relies on "not found" for its first result of a key.
    lists = statements_allowing(sam_template["transformed"], function, "s3:ListBucket")

    resources = [evaluate(statement["Resource"], PARAMETERS) for statement in lists]

    assert resources == [PARAMETERS["UploadsBucket.Arn"]]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_kms_decrypts_the_model_key_only_under_the_model_encryption_context(sam_template, function):
    [decrypt] = [
        statement
        for statement in statements_allowing(sam_template["transformed"], function, "kms:Decrypt")
        if evaluate(statement["Resource"], PARAMETERS) == PARAMETERS["ModelKmsKeyArn"]
    ]

    assert as_list(decrypt["Action"]) == ["kms:Decrypt"]
    assert evaluate(decrypt["Resource"], PARAMETERS) == PARAMETERS["ModelKmsKeyArn"]
    # the context the artifact is sealed with, key for key
    context = artifact.encryption_context(PARAMETERS["ModelId"])
    assert evaluate(decrypt["Condition"], PARAMETERS) == {
        "StringEquals": {f"kms:EncryptionContext:{key}": value for key, value in context.items()}
    }


@pytest.mark.parametrize(
    ("function", "secrets"),
    [
        ("DetectApi", {"ModelKeySecretName", "JwtSecretName"}),
        ("DetectUploads", {"ModelKeySecretName"}),
    ],
)
def test_secrets_are_read_by_name_only(sam_template, function, secrets):
    reads = statements_allowing(
        sam_template["transformed"], function, "secretsmanager:GetSecretValue"
    )

    resources = {evaluate(statement["Resource"], PARAMETERS) for statement in reads}

    assert resources == {
        f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{PARAMETERS[name]}-??????"
        for name in secrets
    }


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("mode", KEY_MODES)
def test_each_key_mode_lets_the_functions_read_its_own_key_and_no_other(
    sam_template, function, mode
):
    # GIVEN parameters that choose this key mode only (and JWKS, so no JWT secret either;
    # no stack key, whose kms:Decrypt is tested on its own)
    unset = {other: "" for other in KEY_MODES if other != mode}
    unset |= {"JwtSecretName": "", "StackKmsKeyArn": ""}
    values = with_conditions(sam_template["template"], PARAMETERS | unset)

    # WHEN the role is read under the conditions those parameters decide
    statements = role_statements(sam_template["transformed"], function, values)

    # THEN of the actions that read a model key, only this mode's is granted
    granted = {action for statement in statements for action in as_list(statement["Action"])}
    assert granted & set(KEY_MODES.values()) == {KEY_MODES[mode]}


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "name",
    ["/detector/model-key", "/model-key", "detector-model-key"],
)
def test_the_model_key_parameter_is_read_by_its_arn_with_or_without_a_leading_slash(
    sam_template, function, name
):
    # GIVEN a hierarchical name ("/path/name") or a plain one ("name")
    values = with_conditions(sam_template["template"], PARAMETERS | {"ModelKeyParameterName": name})

    [read] = statements_allowing(sam_template["transformed"], function, "ssm:GetParameter")

    # THEN the role reads exactly that parameter, whose ARN names it without a leading slash
    assert as_list(read["Action"]) == ["ssm:GetParameter"]
    assert evaluate(read["Resource"], values) == (
        f"arn:aws:ssm:us-east-1:123456789012:parameter/{name.removeprefix('/')}"
    )


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("", True),
        ("detector-model-key", True),
        ("/detector/model-key", True),
        ("/models/yolox_nano.key-1", True),
        ("detector/model-key", False),  # SSM: a hierarchy starts with "/"
        ("/detector//model-key", False),
        ("/detector/model-key/", False),
        ("model key", False),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/detector/model-key", False),
    ],
)
def test_the_model_key_parameter_name_must_be_one_ssm_accepts(sam_template, name, accepted):
    pattern = sam_template["template"]["Parameters"]["ModelKeyParameterName"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, name)) is accepted


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_user_managed_key_modes_reach_the_functions_environment(sam_template, function):
    env = function_environment(sam_template["transformed"], function)

    assert env[settings.MODEL_KEY_SECRET_ID] == {"Ref": "ModelKeySecretName"}
    assert env[settings.MODEL_KEY_PARAMETER] == {"Ref": "ModelKeyParameterName"}


def test_every_key_mode_is_an_optional_parameter_of_the_model_group(sam_template):
    template = sam_template["template"]
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]

    [model] = [group for group in groups if group["Label"]["default"] == "Model"]

    assert set(KEY_MODES) <= set(model["Parameters"])
    # optional each, so that the rule, not a prompt, asks for exactly one of them
    assert all(template["Parameters"][mode]["Default"] == "" for mode in KEY_MODES)


def test_the_upload_queue_hands_failures_to_a_dead_letter_queue_one_record_at_a_time(sam_template):
    resources = sam_template["transformed"]["Resources"]
    queue = resources["UploadQueue"]["Properties"]
    [mapping] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]

    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]
    }
    assert mapping["Properties"]["FunctionName"] == {"Ref": alias_of(resources, "DetectUploads")}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Lambda's advice: a visibility timeout of six times the function's timeout
    timeout = resources["DetectUploads"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_logs_to_its_own_group_with_retention(sam_template, function):
    resources = sam_template["transformed"]["Resources"]

    group = resources[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    assert resources[group]["Type"] == "AWS::Logs::LogGroup"
    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_env_json_overrides_only_variables_the_template_declares(sam_template):
    # sam local invoke silently ignores a variable that the template does not declare
    local = json.loads((REPO_ROOT / "infra" / "env.json").read_text())

    for function, variables in local.items():
        assert set(variables) <= set(function_environment(sam_template["transformed"], function))
        Settings.from_env(variables)  # and the values parse


def test_samconfig_lets_sam_deploy_guided_run_with_nothing_to_edit():
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())["default"]

    deploy = config["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["resolve_s3"] and deploy["resolve_image_repos"]
    assert (REPO_ROOT / config["local_invoke"]["parameters"]["env_vars"]).is_file()


KMS_AND_JWT_SECRET = {
    "ModelKmsKeyArn": PARAMETERS["ModelKmsKeyArn"],
    "ModelId": "yolox-nano-v3",
    "ModelKeySecretName": "",
    "ModelKeyParameterName": "",
    "JwtSecretName": "detector/jwt",
    "JwtJwksUrl": "",
}
OWN_KEY = {"ModelKmsKeyArn": "", "ModelId": ""}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({}, None),
        (
            {"ModelKmsKeyArn": "", "ModelId": "", "ModelKeySecretName": "k", "JwtSecretName": ""}
            | {"JwtJwksUrl": "https://idp.example.com/.well-known/jwks.json"},
            None,
        ),
        (OWN_KEY | {"ModelKeyParameterName": "/detector/model-key"}, None),
        (OWN_KEY | {"ModelKeyParameterName": "detector-model-key"}, None),
        ({"ModelId": ""}, "With ModelKmsKeyArn, set ModelId"),
        ({"ModelKeySecretName": "detector/model-key"}, "more than one is set"),
        ({"ModelKeyParameterName": "/detector/model-key"}, "more than one is set"),
        (OWN_KEY | {"ModelKeySecretName": "k", "ModelKeyParameterName": "/k"}, "more than one"),
        ({"ModelKeySecretName": "k", "ModelKeyParameterName": "/k"}, "more than one is set"),
        ({"ModelKmsKeyArn": ""}, "none is set"),
        (OWN_KEY, "none is set"),
        ({"JwtJwksUrl": "https://idp.example.com/jwks"}, "exactly one of JwtSecretName"),
        ({"JwtSecretName": ""}, "exactly one of JwtSecretName"),
    ],
)
def test_the_template_refuses_parameters_that_name_no_key_or_two(sam_template, change, complaint):
    # WHEN CloudFormation checks the template's rules against the parameters
    broken = broken_rules(sam_template["template"], KMS_AND_JWT_SECRET | change)

    # THEN a complete choice passes, and an ambiguous or missing one is named
    if complaint is None:
        assert broken == []
    else:
        assert broken and all(complaint in message for message in broken)


@pytest.mark.parametrize(("value", "reserved"), [("", False), ("0", False), ("25", True)])
def test_reserved_concurrency_is_set_only_for_a_positive_number(sam_template, value, reserved):
    condition = sam_template["template"]["Conditions"]["ReservesApiConcurrency"]

    assert evaluate(condition, {"ApiReservedConcurrency": value}) is reserved


def test_the_stack_key_encrypts_everything_the_stack_keeps_at_rest(sam_template):
    # GIVEN every resource of a kind that keeps data at rest (the functions after SAM's
    # transform: their environment, image copy and SnapStart snapshots)
    template = sam_template["template"]
    resources = sam_template["transformed"]["Resources"]
    at_rest = {name: r for name, r in resources.items() if r["Type"] in KEY_PATHS}
    with_key, without_key = stack_key_values(template, STACK_KEY), stack_key_values(template, "")

    # THEN each one names the stack key when one is given, and no key when none is
    for name, resource in at_rest.items():
        path = KEY_PATHS[resource["Type"]]
        assert value_at(resource["Properties"], path, with_key) == STACK_KEY, name
        assert value_at(resource["Properties"], path, without_key) is None, name
    # (and these are the resources the README says the key protects)
    assert set(at_rest) == {
        "DetectApi",
        "DetectUploads",
        "DetectApiLogGroup",
        "DetectUploadsLogGroup",
        "DetectHttpApiAccessLogGroup",
        "UploadsBucket",
        "UploadQueue",
        "UploadDeadLetterQueue",
    }


@pytest.mark.parametrize("key", [STACK_KEY, ""])
def test_both_queues_are_encrypted_with_exactly_one_kind_of_sse(sam_template, key):
    # GIVEN the queues, with and without a stack key
    values = stack_key_values(sam_template["template"], key)
    queues = [
        resource["Properties"]
        for resource in sam_template["transformed"]["Resources"].values()
        if resource["Type"] == "AWS::SQS::Queue"
    ]

    # THEN each is encrypted: under the stack key (SSE-KMS), or else SQS's own (SSE-SQS),
    # never both (SQS refuses a queue with both)
    assert len(queues) == 2
    for queue in queues:
        kms_key = value_at(queue, ("KmsMasterKeyId",), values)
        sqs_managed = value_at(queue, ("SqsManagedSseEnabled",), values)
        assert (kms_key, sqs_managed) == ((STACK_KEY, False) if key else (None, True))


@pytest.mark.parametrize(("key", "algorithm"), [(STACK_KEY, "aws:kms"), ("", "AES256")])
def test_the_uploads_bucket_encrypts_with_the_stack_key_or_s3_managed_keys(
    sam_template, key, algorithm
):
    template = sam_template["template"]
    bucket = template["Resources"]["UploadsBucket"]["Properties"]
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    by_default = evaluate(rule["ServerSideEncryptionByDefault"], stack_key_values(template, key))

    assert by_default["SSEAlgorithm"] == algorithm


@pytest.mark.parametrize(
    ("function", "actions", "services"),
    [
        ("DetectApi", ["kms:Decrypt"], "s3.us-east-1.amazonaws.com"),
        (
            "DetectUploads",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            ["s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com"],
        ),
    ],
)
def test_the_functions_use_the_stack_key_only_through_s3_and_sqs(
    sam_template, function, actions, services
):
    template, transformed = sam_template["template"], sam_template["transformed"]

    def on_stack_key(values: dict[str, Any]) -> list[dict[str, Any]]:
        statements = role_statements(transformed, function, values)
        return [s for s in statements if evaluate(s["Resource"], values) == STACK_KEY]

    # WHEN a stack key is given: the API reads images, the upload function also writes
    # results and reads the queue, each only through the service that stores them
    [statement] = on_stack_key(stack_key_values(template, STACK_KEY))
    assert as_list(statement["Action"]) == actions
    condition = evaluate(statement["Condition"], PARAMETERS)
    assert condition == {"StringEquals": {"kms:ViaService": services}}
    # WHEN none is: no statement names it
    assert on_stack_key(stack_key_values(template, "")) == []


def test_the_http_api_logs_each_request_as_json_to_its_own_log_group(sam_template):
    # GIVEN the API's access log settings
    resources = sam_template["template"]["Resources"]
    settings_ = resources["DetectHttpApi"]["Properties"]["AccessLogSettings"]

    # WHEN the format is read as the JSON line each request writes
    fields = json.loads(settings_["Format"])

    # THEN it names the request, route, status, latency and any integration error
    assert (
        fields
        | {
            "requestId": "$context.requestId",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "responseLatency": "$context.responseLatency",
            "integrationRequestId": "$context.integration.requestId",
            "integrationStatus": "$context.integration.status",
            "integrationError": "$context.integration.error",
            "error": "$context.error.message",
        }
        == fields
    )
    # and nothing else than API Gateway's context variables (no header: they carry the JWT)
    assert all(re.fullmatch(r"\$context\.[a-zA-Z.]+", value) for value in fields.values())
    assert not [value for value in fields.values() if "header" in value.lower()]
    # in a log group of its own, kept as long as the functions' logs
    [group, attribute] = settings_["DestinationArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert resources[group]["Type"] == "AWS::Logs::LogGroup"
    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_uploads_bucket_keeps_versions_only_as_long_as_the_user_chose(sam_template):
    template = sam_template["template"]
    bucket = template["Resources"]["UploadsBucket"]["Properties"]
    parameter = template["Parameters"]["UploadsVersioning"]

    # Versioning is the user's choice, on unless they turn it off
    assert bucket["VersioningConfiguration"] == {"Status": {"Ref": "UploadsVersioning"}}
    assert parameter["Default"] == "Enabled"
    assert set(parameter["AllowedValues"]) == {"Enabled", "Suspended"}
    # and an overwritten or deleted version does not stay (and cost) for ever
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule and "Filter" not in rule
    assert rule["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "UploadsNoncurrentVersionDays"}
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_functions_may_read_the_exact_version_an_event_or_request_names(sam_template, function):
    # In a versioned bucket the code reads with VersionId, which needs s3:GetObjectVersion.
    gets = statements_allowing(sam_template["transformed"], function, "s3:GetObject")

    assert gets and all("s3:GetObjectVersion" in as_list(s["Action"]) for s in gets)


@pytest.mark.parametrize(("bucket", "logged"), [("central-s3-logs", True), ("", False)])
def test_the_uploads_bucket_access_log_goes_to_the_bucket_the_user_names(
    sam_template, bucket, logged
):
    template = sam_template["template"]
    values = with_conditions(template, PARAMETERS | {"UploadsAccessLogBucket": bucket})

    logging = evaluate(
        template["Resources"]["UploadsBucket"]["Properties"]["LoggingConfiguration"],
        values | {"AWS::StackName": "detector"},
    )

    assert logging == (
        {"DestinationBucketName": bucket, "LogFilePrefix": "detector/"} if logged else None
    )


def test_every_parameter_is_in_exactly_one_group_of_the_console(sam_template):
    template = sam_template["template"]
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]

    grouped = [name for group in groups for name in group["Parameters"]]

    assert sorted(grouped) == sorted(template["Parameters"])


def test_a_burst_of_uploads_runs_at_most_upload_max_concurrency_functions(sam_template):
    # GIVEN what can invoke the upload function in the deployed stack
    template = sam_template["template"]
    resources = sam_template["transformed"]["Resources"]
    function = resources["DetectUploads"]["Properties"]
    # (the function itself, or its published version through the alias)
    invoked = [{"Ref": "DetectUploads"}, {"Ref": alias_of(resources, "DetectUploads")}]
    mappings = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] in invoked
    ]
    pushers = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["FunctionName"] in invoked
    ]

    # THEN its one trigger is the queue, whose poller runs at most UploadMaxConcurrency
    # functions at once: the rest of the account's concurrency stays the API's
    [mapping] = mappings
    assert pushers == [], "a trigger that pushes would bypass the queue's cap"
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "UploadMaxConcurrency"}}
    # within what Lambda accepts for SQS (2 to 1000), by default a tenth of a default account
    parameter = template["Parameters"]["UploadMaxConcurrency"]
    assert (parameter["MinValue"], parameter["MaxValue"], parameter["Default"]) == (2, 1000, 10)
    # and no reserved concurrency: it would hold that many back from the API even when idle,
    # and below the cap Lambda would throttle the poller, counting receives toward the DLQ
    assert "ReservedConcurrentExecutions" not in function


# --- SnapStart, versions and the alias; tracing ---------------------------------------------
ALIAS = "live"


def alias_of(resources: dict[str, Any], function: str) -> str:
    """The logical id of the alias SAM makes for the function (AutoPublishAlias)."""
    [name] = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias"
        and r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return name


def snapstart_values(template: dict[str, Any], apply_on: str, key: str = "") -> dict[str, Any]:
    return with_conditions(template, PARAMETERS | {"SnapStart": apply_on, "StackKmsKeyArn": key})


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("apply_on", ["None", "PublishedVersions"])
def test_snapstart_applies_to_the_published_versions_when_chosen(sam_template, function, apply_on):
    template = sam_template["template"]
    properties = sam_template["transformed"]["Resources"][function]["Properties"]

    values = snapstart_values(template, apply_on)

    assert evaluate(properties["SnapStart"], values) == {"ApplyOn": apply_on}


def test_snapstart_is_off_unless_the_user_turns_it_on(sam_template):
    # off by default: it keeps the decrypted model in the snapshot, and is billed (README)
    parameter = sam_template["template"]["Parameters"]["SnapStart"]

    assert parameter["Default"] == "None"
    assert parameter["AllowedValues"] == ["None", "PublishedVersions"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_deploy_publishes_a_version_behind_the_live_alias(sam_template, function):
    resources = sam_template["transformed"]["Resources"]

    alias = resources[alias_of(resources, function)]["Properties"]
    version = resources[alias["FunctionVersion"]["Fn::GetAtt"][0]]

    assert alias["Name"] == ALIAS
    assert version["Type"] == "AWS::Lambda::Version"
    assert version["Properties"]["FunctionName"] == {"Ref": function}


def test_the_api_routes_and_the_queue_invoke_the_alias_never_latest(sam_template):
    resources = sam_template["transformed"]["Resources"]
    api_alias, uploads_alias = (alias_of(resources, f) for f in FUNCTIONS)
    # GIVEN everything that lets something invoke a function, and the queue's mapping
    permissions = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
    ]
    [mapping] = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    integrations = json.dumps(resources["DetectHttpApi"]["Properties"]["Body"])

    # THEN API Gateway may invoke the API's alias only, and its routes name that alias
    assert permissions and {json.dumps(p["FunctionName"]) for p in permissions} == {
        json.dumps({"Ref": api_alias})
    }
    assert f"${{{api_alias}}}" in integrations
    assert "${DetectApi.Arn}" not in integrations
    # and SQS feeds the upload function's alias
    assert mapping["FunctionName"] == {"Ref": uploads_alias}


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("key", [STACK_KEY, ""])
def test_snapshots_are_encrypted_with_the_stack_key_when_one_is_given(sam_template, function, key):
    # Lambda encrypts a function's SnapStart snapshots with its KmsKeyArn, else its own key
    template = sam_template["template"]
    properties = sam_template["transformed"]["Resources"][function]["Properties"]

    values = snapstart_values(template, "PublishedVersions", key)

    assert evaluate(properties["SnapStart"], values) == {"ApplyOn": "PublishedVersions"}
    assert value_at(properties, ("KmsKeyArn",), values) == (key or None)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    ("tracing", "mode", "disabled"),
    [("Active", "Active", "false"), ("Disabled", "PassThrough", "true")],
)
def test_tracing_turns_lambdas_and_powertools_tracing_on_or_off_together(
    sam_template, function, tracing, mode, disabled
):
    template = sam_template["template"]
    properties = sam_template["transformed"]["Resources"][function]["Properties"]

    values = with_conditions(template, PARAMETERS | {"Tracing": tracing})

    assert evaluate(properties["TracingConfig"], values) == {"Mode": mode}
    environment = function_environment(sam_template["transformed"], function)
    assert evaluate(environment["POWERTOOLS_TRACE_DISABLED"], values) == disabled
    assert template["Parameters"]["Tracing"]["Default"] == "Active"
