"""kms + secretsmanager subsets: AWS's MSK SCRAM secret procedure with the real aws CLI, encryption at
rest (no plaintext in the database, 0600 key files, a damaged key makes secrets unreadable), the
services' error rules, and the SecretStore interface the MSK side uses."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import uuid

import pytest

from openmsk.services.errors import BackendError
from openmsk.services.kms.backend import KeyStore
from openmsk.services.secretsmanager.backend import SecretStore
from openmsk.control.store import Store


def _name(prefix: str = "AmazonMSK_") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _error_line(result, code: str, operation: str) -> str:
    assert result.returncode != 0, result.stdout
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"An error occurred ({code}) when calling the {operation} operation: "), result.stderr
    return line


def _customer_key(service, alias: str | None = None) -> dict:
    result = service.aws("kms", "create-key", "--description", "MSK SCRAM secrets")
    assert result.returncode == 0, result.stderr
    meta = result.json["KeyMetadata"]
    if alias:
        assert service.aws("kms", "create-alias", "--alias-name", alias, "--target-key-id", meta["KeyId"]).returncode == 0
    return meta


def _db_docs(service, kind: str) -> list[str]:
    with sqlite3.connect(str(service.data_dir / "openmsk.db")) as db:
        return [row[0] for row in db.execute("SELECT doc FROM resources WHERE kind=?", (kind,))]


# -- AWS's documented procedure, step by step ------------------------------------------------------
def test_msk_scram_secret_procedure_with_aws_cli(service):
    alias = f"alias/{_name('msk-')}"
    meta = _customer_key(service, alias)
    assert meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{meta['AWSAccountId']}:key/{meta['KeyId']}"
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and meta["MultiRegion"] is False
    described = service.aws("kms", "describe-key", "--key-id", alias).json["KeyMetadata"]
    assert described["KeyId"] == meta["KeyId"]
    aliases = service.aws("kms", "list-aliases", "--key-id", meta["KeyId"]).json["Aliases"]
    assert [a["AliasName"] for a in aliases] == [alias] and aliases[0]["TargetKeyId"] == meta["KeyId"]
    assert meta["KeyId"] in [k["KeyId"] for k in service.aws("kms", "list-keys").json["Keys"]]

    name = _name()
    created = service.aws("secretsmanager", "create-secret", "--name", name, "--secret-string",
                          '{"username":"alice","password":"alice-secret"}', "--kms-key-id", meta["Arn"])
    assert created.returncode == 0, created.stderr
    arn = created.json["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:{meta['AWSAccountId']}:secret:{name}-")
    assert len(arn) == len(f"arn:aws:secretsmanager:us-east-1:{meta['AWSAccountId']}:secret:{name}-") + 6
    first = created.json["VersionId"]

    got = service.aws("secretsmanager", "get-secret-value", "--secret-id", name).json
    assert json.loads(got["SecretString"]) == {"username": "alice", "password": "alice-secret"}
    assert got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == first and got["ARN"] == arn

    put = service.aws("secretsmanager", "put-secret-value", "--secret-id", arn, "--secret-string",
                      '{"username":"alice","password":"alice-secret-2"}').json
    assert put["VersionStages"] == ["AWSCURRENT"] and put["VersionId"] != first
    described = service.aws("secretsmanager", "describe-secret", "--secret-id", arn[:-7]).json  # partial ARN
    assert described["ARN"] == arn and described["KmsKeyId"] == meta["Arn"]
    assert described["VersionIdsToStages"] == {first: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    previous = service.aws("secretsmanager", "get-secret-value", "--secret-id", name, "--version-stage",
                           "AWSPREVIOUS").json
    assert json.loads(previous["SecretString"])["password"] == "alice-secret"

    listed = service.aws("secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}").json["SecretList"]
    assert [s["ARN"] for s in listed] == [arn]

    deleted = service.aws("secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
    assert deleted.returncode == 0 and "DeletionDate" in deleted.json
    line = _error_line(service.aws("secretsmanager", "get-secret-value", "--secret-id", name),
                       "InvalidRequestException", "GetSecretValue")
    assert line.endswith("You can't perform this operation on the secret because it was marked for deletion.")
    assert "DeletedDate" in service.aws("secretsmanager", "describe-secret", "--secret-id", name).json
    assert arn not in [s["ARN"] for s in service.aws("secretsmanager", "list-secrets").json["SecretList"]]
    assert arn in [s["ARN"] for s in service.aws("secretsmanager", "list-secrets",
                                                 "--include-planned-deletion").json["SecretList"]]
    assert service.aws("secretsmanager", "restore-secret", "--secret-id", name).returncode == 0
    assert service.aws("secretsmanager", "get-secret-value", "--secret-id", name).returncode == 0

    assert service.aws("secretsmanager", "delete-secret", "--secret-id", name,
                       "--force-delete-without-recovery").returncode == 0
    line = _error_line(service.aws("secretsmanager", "get-secret-value", "--secret-id", name),
                       "ResourceNotFoundException", "GetSecretValue")
    assert line == ("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: "
                    "Secrets Manager can't find the specified secret.")


def test_default_key_is_aws_managed(service):
    name = _name()
    created = service.aws("secretsmanager", "create-secret", "--name", name, "--secret-string", '{"username":"b","password":"p"}')
    assert created.returncode == 0, created.stderr
    assert "KmsKeyId" not in service.aws("secretsmanager", "describe-secret", "--secret-id", name).json
    managed = service.aws("kms", "describe-key", "--key-id", "alias/aws/secretsmanager").json["KeyMetadata"]
    assert managed["KeyManager"] == "AWS" and managed["Enabled"] is True
    assert "alias/aws/secretsmanager" in [a["AliasName"] for a in service.aws("kms", "list-aliases").json["Aliases"]]
    line = _error_line(service.aws("kms", "disable-key", "--key-id", managed["KeyId"]),
                       "UnsupportedOperationException", "DisableKey")
    assert managed["Arn"] in line


# -- encryption at rest ----------------------------------------------------------------------------
def test_database_holds_no_plaintext_and_key_files_are_0600(service):
    meta = _customer_key(service)
    password = f"pw-{uuid.uuid4().hex}"
    name = _name()
    assert service.aws("secretsmanager", "create-secret", "--name", name, "--kms-key-id", meta["KeyId"],
                       "--secret-string", json.dumps({"username": "carol", "password": password})).returncode == 0
    assert service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string",
                       json.dumps({"username": "carol", "password": password + "-2"})).returncode == 0
    docs = [d for d in _db_docs(service, "secret") if f'"Name": "{name}"' in d]
    assert len(docs) == 1 and "Ciphertext" in docs[0] and password not in docs[0] and "carol" not in docs[0]
    for path in service.data_dir.glob("openmsk.db*"):
        assert password.encode() not in path.read_bytes(), path
    key_file = service.data_dir / "kms" / f"{meta['KeyId']}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.stat().st_size == 32
    assert key_file.read_bytes() not in b"".join(p.read_bytes() for p in service.data_dir.glob("openmsk.db*"))


def test_damaged_or_deleted_key_file_makes_secret_unreadable(service):
    meta = _customer_key(service)
    key_file = service.data_dir / "kms" / f"{meta['KeyId']}.key"
    name = _name()
    assert service.aws("secretsmanager", "create-secret", "--name", name, "--kms-key-id", meta["KeyId"],
                       "--secret-string", '{"username":"dan","password":"d"}').returncode == 0
    blob = service.client("kms").encrypt(KeyId=meta["KeyId"], Plaintext=b"data")["CiphertextBlob"]
    original = key_file.read_bytes()

    key_file.write_bytes(os.urandom(32))          # different material: authentication fails
    line = _error_line(service.aws("secretsmanager", "get-secret-value", "--secret-id", name),
                       "DecryptionFailure", "GetSecretValue")
    assert line.endswith("Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
    with pytest.raises(service.client("kms").exceptions.InvalidCiphertextException):
        service.client("kms").decrypt(CiphertextBlob=blob)

    key_file.unlink()
    _error_line(service.aws("secretsmanager", "get-secret-value", "--secret-id", name), "DecryptionFailure",
                "GetSecretValue")
    _error_line(service.aws("kms", "encrypt", "--key-id", meta["KeyId"], "--plaintext", "aGk="),
                "KeyUnavailableException", "Encrypt")

    key_file.write_bytes(original)
    assert json.loads(service.aws("secretsmanager", "get-secret-value", "--secret-id", name).json["SecretString"]) \
        == {"username": "dan", "password": "d"}


def test_disabled_and_pending_deletion_keys_refuse_use(service):
    kms = service.client("kms")
    meta = _customer_key(service)
    name = _name()
    assert service.aws("secretsmanager", "create-secret", "--name", name, "--kms-key-id", meta["KeyId"],
                       "--secret-string", "x").returncode == 0
    kms.disable_key(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    line = _error_line(service.aws("kms", "encrypt", "--key-id", meta["KeyId"], "--plaintext", "aGk="),
                       "DisabledException", "Encrypt")
    assert line.endswith(f"{meta['Arn']} is disabled.")
    _error_line(service.aws("secretsmanager", "get-secret-value", "--secret-id", name), "DecryptionFailure",
                "GetSecretValue")
    _error_line(service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "y"),
                "EncryptionFailure", "PutSecretValue")
    kms.enable_key(KeyId=meta["KeyId"])
    assert service.aws("secretsmanager", "get-secret-value", "--secret-id", name).json["SecretString"] == "x"

    scheduled = kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    _error_line(service.aws("kms", "encrypt", "--key-id", meta["KeyId"], "--plaintext", "aGk="),
                "KMSInvalidStateException", "Encrypt")
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"   # as KMS


def test_kms_encrypt_decrypt_and_data_keys(service):
    kms = service.client("kms")
    meta = _customer_key(service)
    blob = kms.encrypt(KeyId=meta["Arn"], Plaintext=b"hello", EncryptionContext={"k": "v"})
    assert blob["KeyId"] == meta["Arn"] and b"hello" not in blob["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert out["Plaintext"] == b"hello" and out["KeyId"] == meta["Arn"]
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "other"})
    other = _customer_key(service)
    with pytest.raises(kms.exceptions.IncorrectKeyException):
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"}, KeyId=other["KeyId"])
    data_key = kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    with pytest.raises(kms.exceptions.NotFoundException):                       # keys are regional
        service.client("kms", region="eu-west-1").describe_key(KeyId=meta["KeyId"])


# -- error rules -----------------------------------------------------------------------------------
def test_kms_errors(service):
    meta = _customer_key(service)
    missing = str(uuid.uuid4())
    line = _error_line(service.aws("kms", "describe-key", "--key-id", missing), "NotFoundException", "DescribeKey")
    assert line.endswith(f"Key 'arn:aws:kms:us-east-1:{meta['AWSAccountId']}:key/{missing}' does not exist")
    _error_line(service.aws("kms", "describe-key", "--key-id", "alias/none-such"), "NotFoundException", "DescribeKey")
    _error_line(service.aws("kms", "create-alias", "--alias-name", "alias/aws/mine", "--target-key-id", meta["KeyId"]),
                "InvalidAliasNameException", "CreateAlias")
    _error_line(service.aws("kms", "create-alias", "--alias-name", "mine", "--target-key-id", meta["KeyId"]),
                "InvalidAliasNameException", "CreateAlias")
    alias = f"alias/{_name('dup-')}"
    assert service.aws("kms", "create-alias", "--alias-name", alias, "--target-key-id", meta["KeyId"]).returncode == 0
    _error_line(service.aws("kms", "create-alias", "--alias-name", alias, "--target-key-id", meta["KeyId"]),
                "AlreadyExistsException", "CreateAlias")
    _error_line(service.aws("kms", "create-key", "--key-spec", "RSA_2048", "--key-usage", "SIGN_VERIFY"),
                "UnsupportedOperationException", "CreateKey")


def test_secretsmanager_errors(service):
    name = _name()
    assert service.aws("secretsmanager", "create-secret", "--name", name, "--secret-string", "v1").returncode == 0
    line = _error_line(service.aws("secretsmanager", "create-secret", "--name", name, "--secret-string", "v"),
                       "ResourceExistsException", "CreateSecret")
    assert line.endswith(f"The operation failed because the secret {name} already exists.")
    _error_line(service.aws("secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7",
                            "--force-delete-without-recovery"), "InvalidParameterException", "DeleteSecret")
    _error_line(service.aws("secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "3"),
                "InvalidParameterException", "DeleteSecret")
    _error_line(service.aws("secretsmanager", "describe-secret", "--secret-id", _name()),
                "ResourceNotFoundException", "DescribeSecret")
    _error_line(service.aws("secretsmanager", "create-secret", "--name", _name(), "--secret-string", "v",
                            "--kms-key-id", str(uuid.uuid4())), "EncryptionFailure", "CreateSecret")

    token = str(uuid.uuid4())
    first = service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "v2",
                        "--client-request-token", token)
    again = service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "v2",
                        "--client-request-token", token)
    assert first.json["VersionId"] == again.json["VersionId"] == token
    _error_line(service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "v3",
                            "--client-request-token", token), "ResourceExistsException", "PutSecretValue")
    assert service.aws("secretsmanager", "delete-secret", "--secret-id", name).returncode == 0
    _error_line(service.aws("secretsmanager", "create-secret", "--name", name, "--secret-string", "v"),
                "InvalidRequestException", "CreateSecret")
    _error_line(service.aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "v4"),
                "InvalidRequestException", "PutSecretValue")


# -- the interface the MSK side uses ---------------------------------------------------------------
def test_secret_store_interface(tmp_path):
    store = Store(tmp_path / "openmsk.db")
    keys = KeyStore(store, tmp_path, "123456789012")
    secrets = SecretStore(store, keys)
    changed: list[str] = []
    secrets.on_change(changed.append)
    key = keys.create_key("us-east-1", "scram")
    customer = secrets.create("us-east-1", "AmazonMSK_x", value='{"username":"x","password":"1"}',
                              kms_key_id=key["KeyId"])
    default = secrets.create("us-east-1", "AmazonMSK_y", value='{"username":"y","password":"2"}')
    assert secrets.kms_key_manager("us-east-1", customer["ARN"]) == "CUSTOMER"
    assert secrets.kms_key_manager("us-east-1", default["Name"]) == "AWS"
    assert json.loads(secrets.value("us-east-1", customer["ARN"]))["password"] == "1"
    assert changed == []
    secrets.put_value("us-east-1", customer["ARN"], '{"username":"x","password":"2"}')
    assert changed == [customer["ARN"]]
    assert json.loads(secrets.value("us-east-1", customer["ARN"]))["password"] == "2"
    secrets.update("us-east-1", default["ARN"], kms_key_id=key["Arn"])      # re-encrypted under the customer key
    assert secrets.kms_key_manager("us-east-1", default["ARN"]) == "CUSTOMER" and changed[-1] == default["ARN"]
    assert json.loads(secrets.value("us-east-1", default["ARN"]))["password"] == "2"
    secrets.delete("us-east-1", customer["ARN"], force=True)
    assert changed[-1] == customer["ARN"]
    with pytest.raises(BackendError) as e:
        secrets.value("us-east-1", customer["ARN"])
    assert e.value.code == "ResourceNotFoundException"
    with pytest.raises(BackendError):
        secrets.value("eu-west-1", default["ARN"])                          # regional
    with pytest.raises(BackendError):
        keys.decrypt("us-east-1", b"garbage")
    store.close()
