# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can this host write to the bucket? Namespace, bucket, probe object written then deleted.

Each step that fails says which of the usual causes it is: not on OCI (the session cannot be
made), no dynamic-group match (401 on the namespace, which needs no policy), bucket missing or
in another region, policy missing (404/403 on the bucket or on the probe object).
"""
from __future__ import annotations

import socket
import time
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.oci.errors import OciAccessError

try:
    import oci
except ImportError:  # the module reports it with missing_required_lib
    oci = None

NAMESPACE_HINTS = {
    401: ("this host's identity is not accepted: with auth_type=instance_principal, no dynamic "
          "group matches this instance - add its compartment (or a tag it carries) to the "
          "group's matching rule; with a config file, check user, fingerprint and key"),
}


def probe_name(prefix):
    # Unique per call: several workers may share a hostname (one machine, pods) and a millisecond.
    return "%s.datamover-preflight.%s.%d.%s" % (prefix, socket.gethostname(), int(time.time()),
                                                uuid.uuid4().hex[:12])


def _policy_statement(dynamic_group, what, compartment, bucket=None):
    where = " where target.bucket.name = '%s'" % bucket if bucket else ""
    return "allow dynamic-group %s to %s in compartment %s%s" % (dynamic_group, what, compartment, where)


def check_bucket(session, bucket, compartment_id=None, namespace=None, create=False, probe=True,
                 prefix="", check_mode=False, dynamic_group="<dynamic-group>", compartment_name="<compartment>"):
    client = session.object_storage()
    region = session.region
    ns = session.call("looking up the Object Storage namespace (region %s)" % region,
                      client.get_namespace, hints=NAMESPACE_HINTS)
    if namespace and namespace != ns:
        raise OciAccessError("namespace %r was given but this tenancy's Object Storage namespace is %r: "
                             "use %r (the rclone remote's namespace too)" % (namespace, ns, ns))
    result = dict(namespace=ns, region=region, bucket=None, created=False, probe="skipped", changed=False)
    try:
        result["bucket"] = session.call("reading bucket %r" % bucket, client.get_bucket, ns, bucket)
    except OciAccessError as exc:
        if exc.status != 404:
            raise
        result.update(_missing_bucket(session, client, ns, bucket, compartment_id, create, check_mode,
                                      dynamic_group, compartment_name))
    if probe and result["bucket"] is not None and not check_mode:
        _probe(session, client, ns, bucket, probe_name(prefix), dynamic_group, compartment_name)
        result["probe"] = "written and deleted"
    if result["bucket"] is not None:
        result["bucket"] = oci.util.to_dict(result["bucket"])
    return result


def _missing_bucket(session, client, ns, bucket, compartment_id, create, check_mode, group, cname):
    region = session.region
    if not compartment_id:
        raise OciAccessError(
            "bucket %r in namespace %r, region %s: not found - it does not exist in this region, or "
            "no policy lets this host read it. Check the bucket name and region (a bucket lives in "
            "one region); give compartment_id to tell the two apart; the policy needs: %s"
            % (bucket, ns, region, _policy_statement(group, "read buckets", cname)))
    listing = session.call(
        "listing the buckets of compartment %s (bucket %r was not found)" % (compartment_id, bucket),
        client.list_buckets, ns, compartment_id,
        hints={404: "no policy lets this host see the compartment's buckets (or the compartment "
                    "OCID is wrong): add '%s'" % _policy_statement(group, "read buckets", cname),
               403: "no policy lets this host list buckets: add '%s'"
                    % _policy_statement(group, "read buckets", cname)})
    if bucket in [b.name for b in listing]:
        raise OciAccessError(
            "bucket %r is listed in compartment %s but cannot be read: the policy is missing: add '%s'"
            % (bucket, compartment_id, _policy_statement(group, "read buckets", cname)))
    if not create:
        raise OciAccessError(
            "bucket %r does not exist in compartment %s, region %s: create it (or set "
            "create_bucket=true), or fix the region if the bucket is in another one"
            % (bucket, compartment_id, region))
    if check_mode:
        return dict(changed=True, created=True, bucket=None)
    details = oci.object_storage.models.CreateBucketDetails(
        name=bucket, compartment_id=compartment_id, public_access_type="NoPublicAccess")
    made = session.call(
        "creating bucket %r in compartment %s" % (bucket, compartment_id), client.create_bucket, ns, details,
        hints={404: "no policy lets this host create buckets there: add '%s'"
                    % _policy_statement(group, "manage buckets", cname),
               403: "no policy lets this host create buckets there: add '%s'"
                    % _policy_statement(group, "manage buckets", cname)})
    return dict(changed=True, created=True, bucket=made)


def _probe(session, client, ns, bucket, name, group, cname):
    write = _policy_statement(group, "manage objects", cname, bucket)
    session.call("writing probe object %r to bucket %r" % (name, bucket), client.put_object, ns, bucket,
                 name, b"datamover.fleet preflight probe\n",
                 hints={404: "the policy does not let this host write objects in this bucket: add '%s'" % write,
                        403: "the policy does not let this host write objects in this bucket: add '%s'" % write})
    session.call("deleting probe object %r from bucket %r" % (name, bucket), client.delete_object, ns, bucket,
                 name,
                 hints={404: "the probe was written but cannot be deleted: the policy must allow "
                             "'manage objects' (OBJECT_DELETE), e.g. '%s'; remove %r by hand" % (write, name),
                        403: "the probe was written but cannot be deleted: the policy must allow "
                             "'manage objects' (OBJECT_DELETE), e.g. '%s'; remove %r by hand" % (write, name)})
