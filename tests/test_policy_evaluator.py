"""IAM's evaluation logic (services/iam/evaluator.py), case by case from AWS's documentation:
"Policy evaluation logic", "IAM JSON policy elements: Condition operators", NotAction/NotResource
examples, and MSK's own policy examples. Pure unit test: no processes."""
import json

import pytest

from openmsk.services.iam import policy_docs
from openmsk.services.iam.evaluator import ALLOW, DENY, IMPLICIT_DENY, evaluate, principal_matches
from openmsk.services.errors import BackendError

ACCT = "123456789012"
CLUSTER = f"arn:aws:kafka:us-east-1:{ACCT}:cluster/MyTestCluster/abcd1234-0123-abcd-5678-1234abcd-1"
TOPIC = f"arn:aws:kafka:us-east-1:{ACCT}:topic/MyTestCluster/abcd1234-0123-abcd-5678-1234abcd-1/orders"


def stmt(effect="Allow", action="*", resource="*", **extra):
    s = {"Effect": effect, **extra}
    if action is not None and "NotAction" not in extra:
        s["Action"] = action
    if resource is not None and "NotResource" not in extra:
        s["Resource"] = resource
    return {"Version": "2012-10-17", "Statement": [s]}


CASES = [
    # (description, policies, action, resource, context, expected)
    ("no policy: implicit deny", [], "kafka:ListClusters", "*", {}, IMPLICIT_DENY),
    ("exact action allowed", [stmt(action="kafka:ListClusters")], "kafka:ListClusters", "*", {}, ALLOW),
    ("actions are case-insensitive", [stmt(action="kafka:listclusters")], "kafka:ListClusters", "*", {}, ALLOW),
    ("other action not allowed", [stmt(action="kafka:ListClusters")], "kafka:CreateCluster", "*", {}, IMPLICIT_DENY),
    ("service wildcard", [stmt(action="kafka:*")], "kafka:DeleteCluster", "*", {}, ALLOW),
    ("prefix wildcard Describe*", [stmt(action="kafka:Describe*")], "kafka:DescribeClusterV2", "*", {}, ALLOW),
    ("prefix wildcard does not cross services", [stmt(action="kafka:*")], "ec2:DescribeVpcs", "*", {}, IMPLICIT_DENY),
    ("? matches exactly one character", [stmt(action="kafka:List?lusters")], "kafka:ListClusters", "*", {}, ALLOW),
    ("? does not match none", [stmt(action="kafka:ListClusters?")], "kafka:ListClusters", "*", {}, IMPLICIT_DENY),
    ("action list", [stmt(action=["ec2:DescribeVpcs", "kafka:ListClusters"])], "kafka:ListClusters", "*", {}, ALLOW),
    ("explicit deny beats allow (same policy)",
     [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                     {"Effect": "Deny", "Action": "kafka:DeleteCluster", "Resource": "*"}]}],
     "kafka:DeleteCluster", "*", {}, DENY),
    ("explicit deny beats allow (two policies)", [stmt(action="kafka:*"), stmt("Deny", action="kafka:Delete*")],
     "kafka:DeleteCluster", "*", {}, DENY),
    ("deny of another action leaves allow", [stmt(action="kafka:*"), stmt("Deny", action="kafka:Delete*")],
     "kafka:ListClusters", "*", {}, ALLOW),
    # NotAction: "Allow everything except IAM" (docs example)
    ("NotAction allow: other service", [stmt(action=None, NotAction="iam:*")], "kafka:ListClusters", "*", {}, ALLOW),
    ("NotAction allow: excluded service", [stmt(action=None, NotAction="iam:*")], "iam:CreateUser", "*", {},
     IMPLICIT_DENY),
    ("NotAction deny denies the rest", [stmt(action="*"), stmt("Deny", action=None, NotAction=["kafka:Describe*"])],
     "kafka:DeleteCluster", "*", {}, DENY),
    # Resources: case-sensitive, * spans ':' and '/'
    ("resource ARN exact", [stmt(resource=CLUSTER)], "kafka:DescribeCluster", CLUSTER, {}, ALLOW),
    ("resource wildcard spans /", [stmt(resource=f"arn:aws:kafka:us-east-1:{ACCT}:cluster/*")],
     "kafka:DescribeCluster", CLUSTER, {}, ALLOW),
    ("resource case-sensitive", [stmt(resource=CLUSTER.replace("MyTestCluster", "mytestcluster"))],
     "kafka:DescribeCluster", CLUSTER, {}, IMPLICIT_DENY),
    ("topic wildcard in MSK's format", [stmt(action="kafka-cluster:ReadData",
                                             resource=f"arn:aws:kafka:us-east-1:{ACCT}:topic/MyTestCluster/*/ord*")],
     "kafka-cluster:ReadData", TOPIC, {}, ALLOW),
    ("NotResource excludes", [stmt(resource=None, NotResource=CLUSTER)], "kafka:DescribeCluster", CLUSTER, {},
     IMPLICIT_DENY),
    ("NotResource allows others", [stmt(resource=None, NotResource=CLUSTER)], "kafka:DescribeCluster", TOPIC, {},
     ALLOW),
    ("policy on a specific ARN does not grant '*'", [stmt(resource=CLUSTER)], "kafka:ListClusters", "*", {},
     IMPLICIT_DENY),
    # Condition operators
    ("StringEquals match", [stmt(Condition={"StringEquals": {"aws:username": "alice"}})], "s3:GetObject", "*",
     {"aws:username": "alice"}, ALLOW),
    ("StringEquals is case-sensitive", [stmt(Condition={"StringEquals": {"aws:username": "Alice"}})],
     "s3:GetObject", "*", {"aws:username": "alice"}, IMPLICIT_DENY),
    ("condition keys are case-insensitive", [stmt(Condition={"StringEquals": {"AWS:UserName": "alice"}})],
     "s3:GetObject", "*", {"aws:username": "alice"}, ALLOW),
    ("StringEqualsIgnoreCase", [stmt(Condition={"StringEqualsIgnoreCase": {"aws:username": "ALICE"}})],
     "s3:GetObject", "*", {"aws:username": "alice"}, ALLOW),
    ("StringNotEquals", [stmt(Condition={"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}})],
     "ec2:DescribeVpcs", "*", {"aws:RequestedRegion": "eu-west-1"}, ALLOW),
    ("StringNotEquals on a listed value", [stmt(Condition={"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}})],
     "ec2:DescribeVpcs", "*", {"aws:RequestedRegion": "us-east-1"}, IMPLICIT_DENY),
    ("StringLike with *", [stmt(Condition={"StringLike": {"kafka-cluster:topicName": "orders-*"}})],
     "kafka-cluster:WriteData", "*", {"kafka-cluster:topicName": "orders-eu"}, ALLOW),
    ("StringNotLike", [stmt(Condition={"StringNotLike": {"kafka-cluster:topicName": "orders-*"}})],
     "kafka-cluster:WriteData", "*", {"kafka-cluster:topicName": "orders-eu"}, IMPLICIT_DENY),
    ("missing key: condition false", [stmt(Condition={"StringEquals": {"aws:username": "alice"}})],
     "s3:GetObject", "*", {}, IMPLICIT_DENY),
    ("missing key with IfExists: true", [stmt(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}})],
     "ec2:RunInstances", "*", {}, ALLOW),
    ("IfExists present and different", [stmt(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}})],
     "ec2:RunInstances", "*", {"ec2:InstanceType": "m5.large"}, IMPLICIT_DENY),
    ("two keys in one block are ANDed",
     [stmt(Condition={"StringEquals": {"aws:username": "alice", "aws:RequestedRegion": "us-east-1"}})],
     "s3:GetObject", "*", {"aws:username": "alice", "aws:RequestedRegion": "eu-west-1"}, IMPLICIT_DENY),
    ("values of one key are ORed", [stmt(Condition={"StringEquals": {"aws:username": ["bob", "alice"]}})],
     "s3:GetObject", "*", {"aws:username": "alice"}, ALLOW),
    ("ArnLike", [stmt(Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/msk-*"}})],
     "kafka:ListClusters", "*", {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/msk-reader"}, ALLOW),
    ("ArnLike: account part does not match", [stmt(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}})],
     "kafka:ListClusters", "*", {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/alice"}, IMPLICIT_DENY),
    ("ArnNotEquals", [stmt(Condition={"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/bob"}})],
     "kafka:ListClusters", "*", {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/alice"}, ALLOW),
    ("Bool SecureTransport false denies (docs: deny non-TLS)",
     [stmt(action="*"), stmt("Deny", action="*", Condition={"Bool": {"aws:SecureTransport": "false"}})],
     "s3:GetObject", "*", {"aws:SecureTransport": False}, DENY),
    ("Bool SecureTransport true passes",
     [stmt(action="*"), stmt("Deny", action="*", Condition={"Bool": {"aws:SecureTransport": "false"}})],
     "s3:GetObject", "*", {"aws:SecureTransport": True}, ALLOW),
    ("NumericLessThanEquals", [stmt(Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})],
     "s3:ListBucket", "*", {"s3:max-keys": "10"}, ALLOW),
    ("NumericLessThan fails at equal", [stmt(Condition={"NumericLessThan": {"s3:max-keys": "10"}})],
     "s3:ListBucket", "*", {"s3:max-keys": 10}, IMPLICIT_DENY),
    ("NumericGreaterThan", [stmt(Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})],
     "s3:ListBucket", "*", {"aws:MultiFactorAuthAge": "7200"}, ALLOW),
    ("Numeric with a non-number is false", [stmt(Condition={"NumericEquals": {"s3:max-keys": "10"}})],
     "s3:ListBucket", "*", {"s3:max-keys": "ten"}, IMPLICIT_DENY),
    ("IpAddress in CIDR (docs: 203.0.113.0/24)", [stmt(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})],
     "kafka:ListClusters", "*", {"aws:SourceIp": "203.0.113.7"}, ALLOW),
    ("IpAddress outside CIDR", [stmt(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})],
     "kafka:ListClusters", "*", {"aws:SourceIp": "198.51.100.1"}, IMPLICIT_DENY),
    ("IPv6 CIDR", [stmt(Condition={"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}})],
     "kafka:ListClusters", "*", {"aws:SourceIp": "2001:db8:1234:5678::1"}, ALLOW),
    ("NotIpAddress deny (docs: deny outside corporate range)",
     [stmt(), stmt("Deny", Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}})],
     "kafka:ListClusters", "*", {"aws:SourceIp": "198.51.100.1"}, DENY),
    ("Null true: key absent", [stmt(Condition={"Null": {"aws:TokenIssueTime": "true"}})],
     "s3:GetObject", "*", {}, ALLOW),
    ("Null false: key present required", [stmt(Condition={"Null": {"aws:TokenIssueTime": "false"}})],
     "s3:GetObject", "*", {}, IMPLICIT_DENY),
    ("ForAllValues: all request values allowed", [stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}})],
     "iam:TagUser", "*", {"aws:TagKeys": ["env"]}, ALLOW),
    ("ForAllValues: one value not allowed", [stmt(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}})],
     "iam:TagUser", "*", {"aws:TagKeys": ["env", "cost"]}, IMPLICIT_DENY),
    ("ForAnyValue: one value matches", [stmt(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}})],
     "iam:TagUser", "*", {"aws:TagKeys": ["cost", "env"]}, ALLOW),
    ("unknown operator never applies (Allow)", [stmt(Condition={"StringSortOf": {"aws:username": "alice"}})],
     "s3:GetObject", "*", {"aws:username": "alice"}, IMPLICIT_DENY),
]


@pytest.mark.parametrize("desc,policies,action,resource,context,expected", CASES, ids=[c[0] for c in CASES])
def test_decision(desc, policies, action, resource, context, expected):
    assert evaluate(policies, action, resource, context) == expected


def test_trust_policy_principals():
    account = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "sts:AssumeRole"}
    user = {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{ACCT}:user/alice"]}, "Action": "sts:AssumeRole"}
    service = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    alice, bob = f"arn:aws:iam::{ACCT}:user/alice", f"arn:aws:iam::{ACCT}:user/bob"
    assert principal_matches(account, [bob], ACCT)
    assert principal_matches(user, [alice], ACCT) and not principal_matches(user, [bob], ACCT)
    assert not principal_matches(service, [alice], ACCT)
    assert principal_matches({"Principal": "*"}, [bob], ACCT)


@pytest.mark.parametrize("doc,fragment", [
    ("not json", "invalid Json"),
    ("[1]", "invalid Json"),
    (json.dumps({"Statement": []}), "Syntax errors"),
    (json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}),
     "Invalid effect"),
    (json.dumps({"Statement": {"Effect": "Allow", "Resource": "*"}}), "must contain actions"),
    (json.dumps({"Statement": {"Effect": "Allow", "Action": "ListClusters", "Resource": "*"}}), "prefaced by a vendor"),
    (json.dumps({"Statement": {"Effect": "Allow", "Action": "kafka:*"}}), "must contain resources"),
    (json.dumps({"Statement": {"Effect": "Allow", "Action": "kafka:*", "Resource": "cluster/x"}}), "ARN format"),
    (json.dumps({"Statement": {"Effect": "Allow", "Action": "kafka:*", "Resource": "*",
                               "Condition": {"StringSortOf": {"a:b": "c"}}}}), "Invalid Condition type"),
    (json.dumps({"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
     "legacy parsing"),
    (json.dumps({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}),
     "should not specify a principal"),
])
def test_malformed_policy_documents(doc, fragment):
    with pytest.raises(BackendError) as err:
        policy_docs.parse(doc)
    assert err.value.code == "MalformedPolicyDocument" and fragment in err.value.message


def test_trust_policy_validation():
    good = json.dumps({"Statement": {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}})
    assert policy_docs.parse(good, trust=True)
    with pytest.raises(BackendError, match="Has prohibited field Resource"):
        policy_docs.parse(json.dumps({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                                                    "Resource": "*"}}), trust=True)
    with pytest.raises(BackendError, match="Principal"):
        policy_docs.parse(json.dumps({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}), trust=True)


def test_cross_account_needs_identity_and_resource_policy():
    """AWS's cross-account evaluation (IAM User Guide, "Cross-account policy evaluation logic"): a principal of
    another account needs an Allow in its identity policy AND in the resource policy; the same account, either."""
    from openmsk.services.iam.authorizer import decide
    cluster = "arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1"
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kafka-cluster:*",
                                                          "Resource": "*"}]}

    def grant(principal, effect="Allow"):
        return {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Principal": {"AWS": principal},
                                                        "Action": "kafka-cluster:Connect", "Resource": cluster}]}

    bob = {"Arn": "arn:aws:iam::210987654321:user/bob", "Policies": [allow_all], "Account": "210987654321"}
    carol = {**bob, "Arn": "arn:aws:iam::210987654321:user/carol", "Policies": []}
    local = {"Arn": "arn:aws:iam::123456789012:user/dave", "Policies": [], "Account": "123456789012"}
    ctx = {}

    def run(principal, policy):
        return decide(principal, "123456789012", "kafka-cluster:Connect", cluster, ctx, policy)
    assert run(bob, None) == IMPLICIT_DENY                                  # identity only: not enough
    assert run(bob, grant(bob["Arn"])) == ALLOW                              # both
    assert run(bob, grant("210987654321")) == ALLOW                          # the account in the resource policy
    assert run(bob, grant("arn:aws:iam::210987654321:root")) == ALLOW
    assert run(bob, grant("arn:aws:iam::111122223333:root")) == IMPLICIT_DENY    # another account named
    assert run(carol, grant(carol["Arn"])) == IMPLICIT_DENY                  # resource only: not enough
    assert run(bob, grant(bob["Arn"], "Deny")) == DENY
    assert run(local, grant(local["Arn"])) == ALLOW                          # same account: the resource policy suffices
