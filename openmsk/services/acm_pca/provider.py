"""AcmPcaProvider: the acm-pca (AWS Private CA) subset MSK's mutual-TLS client authentication needs.

The wire side only: CAs, their lifecycle and the signing live in `backend.py`. A CA is
visible in the region of its ARN only, as on AWS. Certificates are issued synchronously, so the
`aws acm-pca wait certificate-issued` waiter and an immediate GetCertificate both succeed at once.
"""
from __future__ import annotations

import asyncio

from ...api.core import Provider, RequestContext, ServiceException, handler
from ..common import paginate
from ..errors import MapsBackendErrors
from .backend import CA_ARN_RE, PrivateCertificateAuthorities, generate_private_key


class AcmPcaProvider(MapsBackendErrors, Provider):
    service_name = "acm-pca"

    def __init__(self, cas: PrivateCertificateAuthorities) -> None:
        # The same instance is the brokers' source of client CAs (app.py hands it to the control plane).
        self.cas = cas

    def _ca(self, ctx: RequestContext, arn: str) -> dict:
        """The CA, which must be in the caller's region and account."""
        match = CA_ARN_RE.match(arn or "")
        if match and (match.group(1) != ctx.region or match.group(2) != self.cas.account_id):
            raise ServiceException("ResourceNotFoundException", f"Could not find certificate authority {arn}.")
        return self.cas.get(arn)

    @handler("CreateCertificateAuthority")
    async def create_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        configuration = request["CertificateAuthorityConfiguration"]
        key = await asyncio.to_thread(generate_private_key, configuration.get("KeyAlgorithm"))
        arn = self.cas.create(ctx.region, request["CertificateAuthorityType"], configuration, private_key=key,
                              revocation=request.get("RevocationConfiguration"), tags=request.get("Tags"),
                              idempotency_token=request.get("IdempotencyToken"),
                              key_storage=request.get("KeyStorageSecurityStandard"),
                              usage_mode=request.get("UsageMode"))
        return {"CertificateAuthorityArn": arn}

    @handler("DescribeCertificateAuthority")
    async def describe_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        return {"CertificateAuthority": self.cas.describe(self._ca(ctx, request["CertificateAuthorityArn"]))}

    @handler("ListCertificateAuthorities")
    async def list_certificate_authorities(self, ctx: RequestContext, request: dict) -> dict:
        docs = [] if request.get("ResourceOwner") == "OTHER_ACCOUNTS" else self.cas.list(ctx.region)
        return paginate([self.cas.describe(d) for d in docs], request, "CertificateAuthorities", default_max=1000,
                        bad_token=lambda t: ServiceException("InvalidNextTokenException",
                                                             f"The token {t} is not valid."))

    @handler("GetCertificateAuthorityCsr")
    async def get_certificate_authority_csr(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        return {"Csr": self.cas.csr_pem(arn)}

    @handler("ImportCertificateAuthorityCertificate")
    async def import_certificate_authority_certificate(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        self.cas.import_certificate(arn, request["Certificate"], request.get("CertificateChain"))
        return {}

    @handler("GetCertificateAuthorityCertificate")
    async def get_certificate_authority_certificate(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        certificate, chain = self.cas.certificate(arn)
        return {"Certificate": certificate, **({"CertificateChain": chain} if chain else {})}

    @handler("IssueCertificate")
    async def issue_certificate(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        if request.get("ApiPassthrough"):
            raise ServiceException("InvalidArgsException", "ApiPassthrough is not supported by openmsk; put the "
                                   "subject and subject alternative names in the CSR.")
        cert_arn = self.cas.issue(arn, request["Csr"], request["SigningAlgorithm"], request["Validity"],
                                  template_arn=request.get("TemplateArn"),
                                  validity_not_before=request.get("ValidityNotBefore"),
                                  idempotency_token=request.get("IdempotencyToken"))
        return {"CertificateArn": cert_arn}

    @handler("GetCertificate")
    async def get_certificate(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        certificate, chain = self.cas.get_certificate(arn, request["CertificateArn"])
        return {"Certificate": certificate, **({"CertificateChain": chain} if chain else {})}

    @handler("RevokeCertificate")
    async def revoke_certificate(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        self.cas.revoke(arn, request["CertificateSerial"], request["RevocationReason"])
        return {}

    @handler("UpdateCertificateAuthority")
    async def update_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        self.cas.update(arn, status=request.get("Status"), revocation=request.get("RevocationConfiguration"))
        return {}

    @handler("DeleteCertificateAuthority")
    async def delete_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        self.cas.delete(arn, request.get("PermanentDeletionTimeInDays"))
        return {}

    @handler("RestoreCertificateAuthority")
    async def restore_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        arn = self._ca(ctx, request["CertificateAuthorityArn"])["Arn"]
        self.cas.restore(arn)
        return {}

    @handler("TagCertificateAuthority")
    async def tag_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        self.cas.set_tags(self._ca(ctx, request["CertificateAuthorityArn"])["Arn"], request["Tags"])
        return {}

    @handler("UntagCertificateAuthority")
    async def untag_certificate_authority(self, ctx: RequestContext, request: dict) -> dict:
        self.cas.set_tags(self._ca(ctx, request["CertificateAuthorityArn"])["Arn"], request["Tags"], remove=True)
        return {}

    @handler("ListTags")
    async def list_tags(self, ctx: RequestContext, request: dict) -> dict:
        tags = self._ca(ctx, request["CertificateAuthorityArn"]).get("Tags") or []
        return paginate(tags, request, "Tags", default_max=50,
                        bad_token=lambda t: ServiceException("InvalidNextTokenException", f"The token {t} is not valid."))
