"""IAM users, keys and policies authorize every openmsk API call (issue 14, control side), against a real
`openmsk serve` with boto3 and the aws CLI. No Kafka clusters are created."""
import json
import os
import sqlite3
import stat
import time

import botocore.exceptions
import pytest

ALLOW_LIST = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "kafka:ListClusters", "Resource": "*"}]}


def user_env(service, key: dict, token: str | None = None) -> dict:
    env = dict(service.env, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


def error_of(call) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def cluster_arns(kafka) -> list[str]:
    """What ListClusters shows (other tests' clusters may exist on the shared service)."""
    return sorted(c["ClusterArn"] for c in kafka.list_clusters()["ClusterInfoList"])


@pytest.fixture
def iam(service):
    return service.client("iam", region="us-east-1")


def make_user(iam, name: str, policy: dict) -> dict:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return key


def test_user_with_a_narrow_policy_is_refused_in_each_services_shape(service, iam):
    key = make_user(iam, "narrow", ALLOW_LIST)
    as_user = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    kafka = service.client("kafka", **as_user)
    assert cluster_arns(kafka) == cluster_arns(service.client("kafka"))
    configs_before = len(service.client("kafka").list_configurations()["Configurations"])
    # rest-json (kafka), json (cloudwatch), ec2, query (iam, sns): each refused with its own 403 code
    assert error_of(lambda: kafka.create_configuration(Name="refused", ServerProperties=b"auto.create.topics.enable=true")) \
        == ("AccessDeniedException", 403)
    assert error_of(lambda: service.client("cloudwatch", **as_user).describe_alarms()) == ("AccessDeniedException", 403)
    assert error_of(lambda: service.client("ec2", **as_user).describe_vpcs()) == ("UnauthorizedOperation", 403)
    assert error_of(lambda: service.client("iam", region="us-east-1", **as_user).create_user(UserName="x")) \
        == ("AccessDenied", 403)
    assert error_of(lambda: service.client("sns", **as_user).create_topic(Name="refused")) == ("AccessDenied", 403)
    # a refused request changed nothing
    assert len(service.client("kafka").list_configurations()["Configurations"]) == configs_before
    assert "x" not in [u["UserName"] for u in iam.list_users()["Users"]]
    assert service.client("sns").list_topics()["Topics"] == [] or \
        all(not t["TopicArn"].endswith(":refused") for t in service.client("sns").list_topics()["Topics"])
    # the aws CLI shows the same refusal
    result = service.aws("kafka", "create-configuration", "--name", "refused", "--server-properties",
                         "fileb:///dev/null", env=user_env(service, key))
    assert result.returncode == 255, result
    assert "An error occurred (AccessDeniedException) when calling the CreateConfiguration operation: User: " \
           "arn:aws:iam::123456789012:user/narrow is not authorized to perform: kafka:CreateConfiguration" \
           in result.stderr
    cw = service.aws("cloudwatch", "describe-alarms", env=user_env(service, key))
    assert "is not authorized to perform: cloudwatch:DescribeAlarms" in cw.stderr
    # GetCallerIdentity shows the user (and needs no permission, as in AWS)
    ident = service.aws("sts", "get-caller-identity", env=user_env(service, key)).json
    assert ident["Arn"] == "arn:aws:iam::123456789012:user/narrow" and ident["UserId"].startswith("AIDA")
    # the installation's key stays an administrator
    admin = service.aws("sts", "get-caller-identity").json
    assert admin["Arn"] == "arn:aws:iam::123456789012:root"
    assert service.client("cloudwatch").describe_alarms()["MetricAlarms"] is not None


def test_explicit_deny_beats_allow_and_policy_changes_bite_at_once(service, iam):
    key = make_user(iam, "denied", {"Version": "2012-10-17",
                                    "Statement": [{"Effect": "Allow", "Action": "kafka:*", "Resource": "*"}]})
    kafka = service.client("kafka", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    kafka.list_clusters()
    kafka.list_configurations()
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kafka:List*", "Resource": "*"}]}
    iam.put_user_policy(UserName="denied", PolicyName="no-lists", PolicyDocument=json.dumps(deny))
    assert iam.get_user_policy(UserName="denied", PolicyName="no-lists")["PolicyDocument"] == deny
    assert error_of(kafka.list_clusters) == ("AccessDeniedException", 403)
    with pytest.raises(botocore.exceptions.ClientError, match="explicit deny"):
        kafka.list_configurations()
    kafka.get_compatible_kafka_versions()          # kafka:* still allows what the Deny does not name
    iam.delete_user_policy(UserName="denied", PolicyName="no-lists")
    assert cluster_arns(kafka) == cluster_arns(service.client("kafka"))
    # aws:SourceIp is the caller's address: a Deny outside 10.0.0.0/8 bites on loopback, one outside 127/8 not
    outside = lambda cidr: json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
        "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": cidr}}}]})
    iam.put_user_policy(UserName="denied", PolicyName="ip", PolicyDocument=outside("10.0.0.0/8"))
    assert error_of(kafka.list_clusters) == ("AccessDeniedException", 403)
    iam.put_user_policy(UserName="denied", PolicyName="ip", PolicyDocument=outside("127.0.0.0/8"))
    assert cluster_arns(kafka) == cluster_arns(service.client("kafka"))


def test_inactive_and_deleted_keys_are_refused(service, iam):
    key = make_user(iam, "rotating", ALLOW_LIST)
    kafka = service.client("kafka", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    kafka.list_clusters()
    listed = iam.list_access_keys(UserName="rotating")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]
    assert "SecretAccessKey" not in listed[0]
    iam.update_access_key(UserName="rotating", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_of(kafka.list_clusters) == ("ForbiddenException", 403)     # MSK's code for an unknown key
    result = service.aws("sts", "get-caller-identity", env=user_env(service, key))
    assert "InvalidClientTokenId" in result.stderr
    iam.update_access_key(UserName="rotating", AccessKeyId=key["AccessKeyId"], Status="Active")
    kafka.list_clusters()
    # the secret lives in a 0600 file, never in the database or the service log
    secret_file = service.data_dir / "iam" / "keys" / key["AccessKeyId"]
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert key["SecretAccessKey"].encode() not in (service.data_dir / "openmsk.db").read_bytes()
    for log in service.data_dir.parent.rglob("*.log"):
        assert key["SecretAccessKey"].encode() not in log.read_bytes()
    # deleting the user needs its keys and policies gone first (DeleteConflict), as in IAM
    assert error_of(lambda: iam.delete_user(UserName="rotating")) == ("DeleteConflict", 409)
    iam.delete_access_key(UserName="rotating", AccessKeyId=key["AccessKeyId"])
    assert not secret_file.exists()
    assert error_of(kafka.list_clusters) == ("ForbiddenException", 403)
    arn = iam.list_attached_user_policies(UserName="rotating")["AttachedPolicies"][0]["PolicyArn"]
    assert error_of(lambda: iam.delete_policy(PolicyArn=arn)) == ("DeleteConflict", 409)
    iam.detach_user_policy(UserName="rotating", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_user(UserName="rotating")
    assert error_of(lambda: iam.get_user(UserName="rotating")) == ("NoSuchEntity", 404)


def test_iam_errors_and_policy_versions(service, iam):
    iam.create_user(UserName="versions")
    assert error_of(lambda: iam.create_user(UserName="versions")) == ("EntityAlreadyExists", 409)
    assert error_of(lambda: iam.get_user(UserName="nobody")) == ("NoSuchEntity", 404)
    bad = service.aws("iam", "create-policy", "--policy-name", "bad", "--policy-document",
                      '{"Statement": {"Effect": "Allow", "Action": "ListClusters", "Resource": "*"}}')
    assert bad.returncode == 255 and "(MalformedPolicyDocument)" in bad.stderr, bad.stderr
    arn = iam.create_policy(PolicyName="versioned", PolicyDocument=json.dumps(ALLOW_LIST))["Policy"]["Arn"]
    v2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kafka:List*", "Resource": "*"}]}
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2), SetAsDefault=True)
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["DefaultVersionId"] == "v2" and policy["AttachmentCount"] == 0
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == v2
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["IsDefaultVersion"] is False
    assert error_of(lambda: iam.get_policy_version(PolicyArn=arn, VersionId="v9")) == ("NoSuchEntity", 404)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2", "v1"]
    assert error_of(lambda: iam.delete_policy_version(PolicyArn=arn, VersionId="v2")) == ("DeleteConflict", 409)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)
    assert error_of(lambda: iam.get_policy(PolicyArn=arn)) == ("NoSuchEntity", 404)
    iam.tag_user(UserName="versions", Tags=[{"Key": "team", "Value": "streaming"}])
    assert iam.get_user(UserName="versions")["User"]["Tags"] == [{"Key": "team", "Value": "streaming"}]


def test_assume_role_trust_policy_and_expiry(service, iam):
    key = make_user(iam, "assumer", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/assumer"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    assert iam.get_role(RoleName="reader")["Role"]["AssumeRolePolicyDocument"] == trust
    assert "reader" in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.put_role_policy(RoleName="reader", PolicyName="list", PolicyDocument=json.dumps(ALLOW_LIST))
    sts = service.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    session = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert service.client("sts", **session).get_caller_identity()["Arn"] == \
        "arn:aws:sts::123456789012:assumed-role/reader/s1"
    assert cluster_arns(service.client("kafka", **session)) == cluster_arns(service.client("kafka"))
    assert error_of(lambda: service.client("kafka", **session).list_configurations()) == ("AccessDeniedException", 403)
    forged = dict(session, aws_session_token="forged")
    assert error_of(lambda: service.client("kafka", **forged).list_clusters()) == ("AccessDeniedException", 403)
    # the admin (account root) is not named by the trust policy -> refused
    assert error_of(lambda: service.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="root")) \
        == ("AccessDenied", 403)
    # expiry: move a second session's expiry into the past (as if 15 minutes went by) -> an unknown key
    late = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s2", DurationSeconds=900)["Credentials"]
    late_session = dict(key=late["AccessKeyId"], secret=late["SecretAccessKey"], aws_session_token=late["SessionToken"])
    assert cluster_arns(service.client("kafka", **late_session)) == cluster_arns(service.client("kafka"))
    with sqlite3.connect(service.data_dir / "openmsk.db") as db:
        db.execute("UPDATE resources SET doc = json_set(doc, '$.Expires', ?) WHERE kind = 'iam-session' AND id = ?",
                   (time.time() - 1, late["AccessKeyId"]))
    assert error_of(lambda: service.client("kafka", **late_session).list_clusters()) == ("ForbiddenException", 403)
    iam.delete_role_policy(RoleName="reader", PolicyName="list")
    assert error_of(lambda: service.client("kafka", **session).list_clusters()) == ("AccessDeniedException", 403)
    assert error_of(lambda: iam.delete_role_policy(RoleName="reader", PolicyName="list")) == ("NoSuchEntity", 404)
    # a trust policy that no longer names the user refuses the next AssumeRole
    iam.update_assume_role_policy(RoleName="reader", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/someone-else"},
         "Action": "sts:AssumeRole"}]}))
    assert error_of(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s3")) == ("AccessDenied", 403)
    assert iam.list_role_policies(RoleName="reader")["PolicyNames"] == []
    iam.delete_role(RoleName="reader")
    assert error_of(lambda: service.client("sts", **session).get_caller_identity())[1] == 403


def test_resource_level_policies_name_the_real_arns(service, iam):
    """A policy naming one configuration / secret / bucket grants exactly that one; the refusal names the
    resource as AWS does; an explicit Deny on a tag wins; a secret named by name resolves to its ARN."""
    admin_kafka = service.client("kafka")
    allowed = admin_kafka.create_configuration(Name="res-allowed", ServerProperties=b"num.partitions=2")["Arn"]
    other = admin_kafka.create_configuration(Name="res-other", ServerProperties=b"num.partitions=3")["Arn"]
    sm = service.client("secretsmanager")
    secret_arn = sm.create_secret(Name="res-secret", SecretString="s1")["ARN"]
    sm.create_secret(Name="res-secret-other", SecretString="s2")
    s3 = service.client("s3")
    s3.create_bucket(Bucket="res-bucket")
    s3.put_object(Bucket="res-bucket", Key="open/a.txt", Body=b"a")
    s3.put_object(Bucket="res-bucket", Key="closed/b.txt", Body=b"b")
    key = make_user(iam, "resources", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kafka:DescribeConfiguration", "kafka:TagResource"], "Resource": allowed},
        {"Effect": "Allow", "Action": "kafka:DescribeConfiguration", "Resource": other},
        {"Effect": "Deny", "Action": "kafka:DescribeConfiguration", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/stage": "prod"}}},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::res-bucket/open/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::res-bucket"}]})
    as_user = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    kafka = service.client("kafka", **as_user)
    assert kafka.describe_configuration(Arn=allowed)["Name"] == "res-allowed"
    admin_kafka.tag_resource(ResourceArn=other, Tags={"stage": "prod"})
    with pytest.raises(botocore.exceptions.ClientError) as err:
        kafka.describe_configuration(Arn=other)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::123456789012:user/resources is not authorized to perform: kafka:DescribeConfiguration "
        f"on resource: {other} with an explicit deny in an identity-based policy")
    # TagResource is authorized on the named configuration (allowed here), not on *
    kafka.tag_resource(ResourceArn=allowed, Tags={"team": "a"})
    user_sm = service.client("secretsmanager", **as_user)
    assert user_sm.get_secret_value(SecretId="res-secret")["SecretString"] == "s1"      # name -> ARN
    with pytest.raises(botocore.exceptions.ClientError) as err:
        user_sm.get_secret_value(SecretId="res-secret-other")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert ":secret:res-secret-other-" in err.value.response["Error"]["Message"]
    user_s3 = service.client("s3", **as_user)
    assert user_s3.get_object(Bucket="res-bucket", Key="open/a.txt")["Body"].read() == b"a"
    assert error_of(lambda: user_s3.get_object(Bucket="res-bucket", Key="closed/b.txt")) == ("AccessDenied", 403)
    assert [o["Key"] for o in user_s3.list_objects_v2(Bucket="res-bucket")["Contents"]] == ["closed/b.txt", "open/a.txt"]
    assert error_of(lambda: user_s3.put_object(Bucket="res-bucket", Key="open/c.txt", Body=b"c")) == ("AccessDenied", 403)


def test_get_session_token_acts_as_the_user(service, iam):
    key = make_user(iam, "sessions", ALLOW_LIST)
    sts = service.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    session = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert service.client("sts", **session).get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/sessions"
    kafka = service.client("kafka", **session)
    assert cluster_arns(kafka) == cluster_arns(service.client("kafka"))
    assert error_of(lambda: kafka.list_configurations()) == ("AccessDeniedException", 403)
    assert error_of(lambda: service.client("sts", **session).get_session_token()) == ("AccessDenied", 403)
    forged = dict(session, aws_session_token=creds["SessionToken"][:-4] + "AAAA")
    assert error_of(lambda: service.client("kafka", **forged).list_clusters()) == ("AccessDeniedException", 403)
