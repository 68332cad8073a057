# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCI SDK clients from the modules' auth options (documented in doc_fragments/oci.py).

Every SDK call goes through ``OciSession.call`` so that each failure becomes one
OciAccessError naming the action, the resource and what to do.
"""
from __future__ import annotations

import os

from ansible_collections.datamover.fleet.plugins.module_utils.oci.errors import (
    OciAccessError,
    from_connection_error,
    from_service_error,
)

try:
    import oci
    # The SDK ships its own copy of requests: its connection errors are of that one.
    from oci._vendor.requests.exceptions import RequestException
    HAS_OCI = True
    OCI_IMPORT_ERROR = None
except ImportError as exc:  # the module reports it with missing_required_lib
    HAS_OCI = False
    OCI_IMPORT_ERROR = exc
    RequestException = OSError

AUTH_ARGS = dict(
    auth_type=dict(type="str", default="config_file", choices=["config_file", "instance_principal"]),
    config_file=dict(type="path", default="~/.oci/config"),
    config_profile=dict(type="str", default="DEFAULT"),
    region=dict(type="str"),
    endpoint=dict(type="str"),
)

# Not on OCI, the metadata service does not answer: fail in seconds, not after minutes of retries.
_METADATA_ATTEMPTS = 3
_TIMEOUT = (10, 60)

NOT_ON_OCI = ("auth_type=instance_principal: the instance metadata service did not answer (%s): "
              "this host is not an OCI instance, or its metadata endpoint is blocked. Run on an OCI "
              "instance, or use auth_type=config_file with an API key")


def auth_args(**extra):
    spec = dict(AUTH_ARGS)
    spec.update(extra)
    return spec


class OciSession(object):
    """The signer, region and tenancy for one module run."""

    def __init__(self, params):
        self.params = params
        self.endpoint = params.get("endpoint")
        if params["auth_type"] == "instance_principal":
            self.config, self.signer = self._instance_principal()
            self.tenancy = self.signer.tenancy_id
        else:
            self.config, self.signer = self._config_file(), None
            self.tenancy = self.config["tenancy"]
        if params.get("region"):
            self.config["region"] = params["region"]
        self.region = self.config.get("region")

    def _instance_principal(self):
        retry = oci.retry.RetryStrategyBuilder(max_attempts_check=True, max_attempts=_METADATA_ATTEMPTS,
                                               total_elapsed_time_check=True,
                                               total_elapsed_time_seconds=30).get_retry_strategy()
        try:
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(retry_strategy=retry)
        except oci.exceptions.ServiceError as exc:
            raise from_service_error(exc, "auth_type=instance_principal: getting the instance's certificate")
        except (RequestException, OSError) as exc:
            raise OciAccessError(NOT_ON_OCI % exc.__class__.__name__)
        return {"region": signer.region}, signer

    def _config_file(self):
        path = os.path.expanduser(self.params["config_file"])
        profile = self.params["config_profile"]
        try:
            config = oci.config.from_file(path, profile)
            oci.config.validate_config(config)
        except oci.exceptions.ConfigFileNotFound:
            raise OciAccessError("OCI config file %s does not exist: create it (oci setup config) "
                                 "or use auth_type=instance_principal on an OCI instance" % path)
        except oci.exceptions.ProfileNotFound:
            raise OciAccessError("OCI config file %s has no profile [%s]: set config_profile to one "
                                 "of its profiles" % (path, profile))
        except (oci.exceptions.InvalidConfig, oci.exceptions.InvalidKeyFilePath,
                oci.exceptions.MissingPrivateKeyPassphrase) as exc:
            raise OciAccessError("OCI config file %s, profile [%s], is not usable (%s): fix the "
                                 "values it names" % (path, profile, exc))
        return config

    def client(self, cls):
        kwargs = {"timeout": _TIMEOUT}
        if self.signer is not None:
            kwargs["signer"] = self.signer
        if self.endpoint:
            kwargs["service_endpoint"] = self.endpoint
        try:
            return cls(self.config, **kwargs)
        except oci.exceptions.InvalidPrivateKey as exc:
            raise OciAccessError("the API key of OCI config file %s cannot be read (%s): check "
                                 "key_file and pass_phrase" % (self.params["config_file"], exc))

    def identity(self):
        return self.client(oci.identity.IdentityClient)

    def object_storage(self):
        return self.client(oci.object_storage.ObjectStorageClient)

    def call(self, action, fn, *args, **kwargs):
        """``fn(*args, **kwargs).data``; ``hints`` (a keyword) says what to do per status."""
        hints = kwargs.pop("hints", None)
        try:
            return fn(*args, **kwargs).data
        except oci.exceptions.ServiceError as exc:
            raise from_service_error(exc, action, hints)
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, RequestException) as exc:
            raise from_connection_error(exc, action, self.endpoint or self.region)


def to_dict(model):
    """An SDK model as a plain dict of its attributes (snake_case)."""
    if model is None:
        return None
    return oci.util.to_dict(model)
