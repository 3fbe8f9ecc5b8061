"""An embedded `iam` subset and the policy evaluator that authorizes every openmsk API request.

* `backend`    -- users, access keys (secrets in 0600 files), roles, managed/inline policies, STS sessions
* `provider`   -- the `iam` API (query protocol)
* `policy_docs`-- IAM's validation of policy documents (MalformedPolicyDocument)
* `evaluator`  -- IAM's evaluation logic, pure (explicit Deny > Allow > implicit deny; conditions)
* `authorizer` -- the gateway's authorize(ctx) hook
"""
from .authorizer import Authorizer
from .backend import IamBackend
from .provider import IamProvider

__all__ = ["Authorizer", "IamBackend", "IamProvider"]
