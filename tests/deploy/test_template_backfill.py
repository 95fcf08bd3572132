"""The role S3 Batch Operations assumes for ``detector backfill``: what it may do, and no more."""

from __future__ import annotations

from typing import Any

from tests.deploy.cfn import as_list, evaluate
from tests.deploy.test_template import STACK_KEY, stack_key_values

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


def allowed(sam_template: dict[str, Any], stack_key: str = "") -> dict[str, set[str]]:
    """Each action the role's policies allow, with the resources it is allowed on."""
    values = VALUES | stack_key_values(sam_template["template"], stack_key)
    grants: dict[str, set[str]] = {}
    for policy in evaluate(role(sam_template)["Policies"], values):
        if policy is None:  # a policy left out by its condition
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            resources = set(as_list(evaluate(statement["Resource"], values)))
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


def test_with_a_stack_key_the_backfill_role_may_use_it_through_s3_only(sam_template):
    # GIVEN a stack key: manifests and reports in the uploads bucket are encrypted with it
    grants = allowed(sam_template, STACK_KEY)
    # THEN the role may decrypt manifests and encrypt reports with that key, and no other
    assert grants["kms:Decrypt"] == {STACK_KEY}
    assert grants["kms:GenerateDataKey"] == {STACK_KEY}
    values = VALUES | stack_key_values(sam_template["template"], STACK_KEY)
    [policy] = [
        p
        for p in evaluate(role(sam_template)["Policies"], values)
        if p and p["PolicyName"] == "ManifestsAndReportsUnderTheStackKey"
    ]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    }
    # and without one, no KMS permission at all
    assert not [action for action in allowed(sam_template) if action.startswith("kms:")]
