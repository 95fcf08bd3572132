"""The role S3 Batch Operations assumes for ``detector backfill``: what it may do, and no more."""

from __future__ import annotations

from typing import Any

from tests.deploy.cfn import as_list, evaluate

VALUES = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "UploadsBucket.Arn": "arn:aws:s3:::detector-uploads-123456789012-1a2b3c4d",
    "DetectUploads.Arn": "arn:aws:lambda:us-east-1:123456789012:function:stack-DetectUploads",
    "BackfillRole.Arn": "arn:aws:iam::123456789012:role/stack-BackfillRole",
}
BUCKET = VALUES["UploadsBucket.Arn"]
FUNCTION = VALUES["DetectUploads.Arn"]


def role(sam_template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = sam_template["transformed"]["Resources"]["BackfillRole"][
        "Properties"
    ]
    return properties


def allowed(sam_template: dict[str, Any]) -> dict[str, set[str]]:
    """Each action the role's policies allow, with the resources it is allowed on."""
    grants: dict[str, set[str]] = {}
    for policy in role(sam_template)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            resources = set(as_list(evaluate(statement["Resource"], VALUES)))
            for action in as_list(statement["Action"]):
                grants.setdefault(action, set()).update(resources)
    return grants


def test_only_s3_batch_operations_of_this_account_may_assume_the_backfill_role(sam_template):
    [statement] = role(sam_template)["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert evaluate(statement["Condition"], VALUES) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"}
    }


def test_the_backfill_role_invokes_the_upload_function_reads_manifests_and_writes_reports(
    sam_template,
):
    assert allowed(sam_template) == {
        "lambda:InvokeFunction": {FUNCTION, f"{FUNCTION}:*"},  # the function, or an alias
        "s3:GetObject": {f"{BUCKET}/backfill/*"},
        "s3:GetObjectVersion": {f"{BUCKET}/backfill/*"},
        "s3:PutObject": {f"{BUCKET}/backfill/reports/*"},
        "s3:GetBucketLocation": {BUCKET},
    }


def test_the_outputs_give_what_detector_backfill_asks_for(sam_template):
    outputs = sam_template["template"]["Outputs"]

    assert evaluate(outputs["BackfillRoleArn"]["Value"], VALUES) == VALUES["BackfillRole.Arn"]
    assert evaluate(outputs["DetectUploadsFunctionArn"]["Value"], VALUES) == FUNCTION
