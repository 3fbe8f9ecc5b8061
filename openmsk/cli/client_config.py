"""`openmsk client-config`: a ready `client.properties` for the Kafka tools' `--command-config`,
`--consumer.config` and `--producer.config` (and any Java client).

  --auth none   PLAINTEXT on 9092 (clusters with ClientBroker PLAINTEXT or TLS_PLAINTEXT)
  --auth tls    SSL on 9094, trusting the installation CA; with --keystore PEM also a client
                certificate (mTLS, for clusters with ClientAuthentication.Tls)
  --auth scram  SASL_SSL + SCRAM-SHA-512 on 9096 with --username/--password, or the username and
                password JSON of an MSK-style Secrets Manager secret (--secret-arn)
The default is `tls` when the cluster has a TLS listener, else `none`. The file's path is the only
line on stdout (so `CFG=$(openmsk client-config demo)` works); how to use it goes to stderr. Files
that contain a password are written 0600.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .common import EXIT_OK, EXIT_USAGE, Api, CliError, api_call, resolve_cluster, say

BOOTSTRAP_MEMBER = {"none": "BootstrapBrokerString", "tls": "BootstrapBrokerStringTls",
                    "scram": "BootstrapBrokerStringSaslScram"}


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def properties(auth: str, ca_path: Path, *, username: str | None = None, password: str | None = None,
               keystore: Path | None = None) -> dict[str, str]:
    if auth == "none":
        return {"security.protocol": "PLAINTEXT"}
    props = {"security.protocol": "SSL" if auth == "tls" else "SASL_SSL",
             "ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca_path)}
    if keystore is not None:
        props.update({"ssl.keystore.type": "PEM", "ssl.keystore.location": str(keystore)})
    if auth == "scram":
        props.update({"sasl.mechanism": "SCRAM-SHA-512",
                      "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                                          f"username={_jaas_quote(username)} password={_jaas_quote(password)};"})
    return props


def render(props: dict[str, str], header: list[str]) -> str:
    def escape(value: str) -> str:          # java.util.Properties: backslash is the escape character
        return value.replace("\\", "\\\\")
    lines = [f"# {h}" for h in header] + [f"{k}={escape(v)}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str, secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if secret else 0o644
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _scram_credentials(api: Api, args) -> tuple[str, str]:
    if args.secret_arn:
        secret = api_call(api.client("secretsmanager").get_secret_value, SecretId=args.secret_arn)
        try:
            doc = json.loads(secret["SecretString"])
            return doc["username"], doc["password"]
        except (KeyError, ValueError, TypeError):
            raise CliError(f"secret {args.secret_arn} is not an MSK SCRAM secret "
                           '(expected SecretString {"username": ..., "password": ...})')
    if not (args.username and args.password):
        raise CliError("--auth scram needs --username and --password, or --secret-arn", EXIT_USAGE)
    return args.username, args.password


def _default_auth(bootstrap: dict) -> str:
    return "tls" if bootstrap.get("BootstrapBrokerStringTls") else "none"


def cmd_client_config(args) -> int:
    api = Api.from_args(args)
    kafka = api.client("kafka")
    info = resolve_cluster(kafka, args.cluster)
    if info["State"] == "CREATING":
        raise CliError(f"cluster {info['ClusterName']} is still CREATING; `openmsk wait {info['ClusterName']}` first")
    bootstrap = api_call(kafka.get_bootstrap_brokers, ClusterArn=info["ClusterArn"])
    auth = args.auth or _default_auth(bootstrap)
    member = BOOTSTRAP_MEMBER[auth]
    if not bootstrap.get(member):
        have = ", ".join(a for a, m in BOOTSTRAP_MEMBER.items() if bootstrap.get(m)) or "none"
        why = ("ClientAuthentication.Sasl.Scram is not enabled" if auth == "scram" else
               f"EncryptionInTransit.ClientBroker is {info['EncryptionInfo']['EncryptionInTransit']['ClientBroker']}")
        raise CliError(f"cluster {info['ClusterName']} has no {member} ({why}); --auth choices it supports: {have}")
    if args.keystore and auth == "none":
        raise CliError("--keystore (a client certificate) needs --auth tls or scram", EXIT_USAGE)
    keystore = Path(args.keystore).resolve() if args.keystore else None
    if keystore is not None and b"PRIVATE KEY" not in keystore.read_bytes():
        raise CliError(f"{keystore} has no private key: a PEM keystore holds the key and the certificate chain")
    mtls_only = ((info.get("ClientAuthentication") or {}).get("Tls") or {}).get("Enabled") and not \
        ((info.get("ClientAuthentication") or {}).get("Unauthenticated") or {}).get("Enabled")
    if auth == "tls" and mtls_only and keystore is None:
        raise CliError(f"cluster {info['ClusterName']} requires client certificates (mTLS): pass --keystore PEM")
    username = password = None
    if auth == "scram":
        username, password = _scram_credentials(api, args)
    props = properties(auth, api.ca_path, username=username, password=password, keystore=keystore)
    path = Path(args.output) if args.output else \
        api.data_dir / "client-config" / f"{info['ClusterName']}-{auth}.properties"
    header = [f"openmsk client configuration for cluster {info['ClusterName']} ({auth})",
              f"{info['ClusterArn']}",
              f"--bootstrap-server {bootstrap[member]}"]
    write(path, render(props, header), secret=auth == "scram")
    say(str(path.resolve()))
    say(f"use with: kafka-topics.sh --bootstrap-server {bootstrap[member]} --command-config {path} ...", err=True)
    return EXIT_OK


def register(add) -> None:
    p = add("client-config", cmd_client_config,
            "write a client.properties for the Kafka tools (--command-config) and print its path")
    p.add_argument("cluster", help="cluster name or ARN")
    p.add_argument("--auth", choices=sorted(BOOTSTRAP_MEMBER),
                   help="tls (default when the cluster has TLS), scram, or none (plaintext)")
    p.add_argument("--username", help="SCRAM user name (--auth scram)")
    p.add_argument("--password", help="SCRAM password (--auth scram); the file is then written 0600")
    p.add_argument("--secret-arn", help="Secrets Manager secret with {\"username\", \"password\"} (--auth scram)")
    p.add_argument("--keystore", help="PEM file with a client key + certificate chain (mTLS)")
    p.add_argument("--output", "-o", help="where to write (default <data-dir>/client-config/<cluster>-<auth>.properties)")
    p.add_argument("--region", help="AWS region (default us-east-1)")
    p.add_argument("--port", type=int, help="service port (default: the one `openmsk serve` recorded)")
