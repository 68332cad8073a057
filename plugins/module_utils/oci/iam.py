# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic groups and policies: build what the runbook needs, compare, create or update.

The pure helpers (matching rules, statements, comparison) need no SDK; ``ensure_*`` take an
OciSession and honour check mode.
"""
from __future__ import annotations

import re

try:
    import oci
except ImportError:  # the module reports it with missing_required_lib
    oci = None

_QUOTED = re.compile(r"('[^']*')")

DYNAMIC_GROUP_HINTS = {
    403: "the caller may not manage dynamic groups: this needs a tenancy administrator "
         "(allow group <admins> to manage dynamic-groups in tenancy)",
    404: "the caller may not see dynamic groups in the tenancy, or the tenancy OCID is wrong: this "
         "needs a tenancy administrator (allow group <admins> to manage dynamic-groups in tenancy)",
}
POLICY_HINTS = {
    403: "the caller may not manage policies there: allow group <admins> to manage policies in "
         "that compartment (or tenancy)",
    404: "the compartment does not exist, or the caller may not manage its policies: check "
         "compartment_id, then allow group <admins> to manage policies there",
    400: "OCI refused a statement: check the dynamic group and compartment names it uses (a policy "
         "can only name compartments under the one it is attached to)",
}


def matching_rule(instance_compartments=(), instance_tags=(), rule=None):
    """The rule of a dynamic group: ``rule`` as given, or ANY of the compartments and tags."""
    if rule:
        return rule
    clauses = ["instance.compartment.id = '%s'" % c for c in instance_compartments]
    clauses += ["tag.%s.%s.value = '%s'" % (t["namespace"], t["key"], t["value"]) for t in instance_tags]
    if not clauses:
        raise ValueError("a dynamic group needs matching_rule, instance_compartments or instance_tags")
    return "ANY {%s}" % ", ".join(clauses)


def transfer_statements(dynamic_group, compartment, buckets=()):
    """Object access for the transfer hosts: the runbook's broad statement, or, with buckets,
    the least-privilege pair (read buckets; manage objects only in those buckets)."""
    subject = "allow dynamic-group %s to" % dynamic_group
    if not buckets:
        return ["%s manage object-family in compartment %s" % (subject, compartment)]
    where = ", ".join("target.bucket.name = '%s'" % b for b in buckets)
    return ["%s read buckets in compartment %s" % (subject, compartment),
            "%s manage objects in compartment %s where any {%s}" % (subject, compartment, where)]


def oke_statements(dynamic_group, compartment):
    """What the OKE operator host needs to run the workers as pods."""
    return ["allow dynamic-group %s to manage cluster-family in compartment %s" % (dynamic_group, compartment)]


def wanted_statements(statements=(), transfer_access=None, oke_access=None):
    """The statements given verbatim, then those the runbook's accesses need."""
    out = list(statements or [])
    if transfer_access:
        out += transfer_statements(transfer_access["dynamic_group"], transfer_access["compartment"],
                                   transfer_access.get("buckets") or [])
    if oke_access:
        out += oke_statements(oke_access["dynamic_group"], oke_access["compartment"])
    return out


def normalize(text):
    """Equal for OCI: whitespace runs and keyword case do not matter; quoted names keep their case."""
    parts = _QUOTED.split(" ".join(text.split()))
    return "".join(p if p.startswith("'") else p.lower() for p in parts)


def merged_statements(current, wanted, purge):
    """The statements the policy should end with: ``wanted`` only (purge), or the current ones
    plus those of ``wanted`` that are missing, in their order."""
    if purge:
        return list(wanted)
    have = set(normalize(s) for s in current)
    return list(current) + [s for s in wanted if normalize(s) not in have]


def same_statements(a, b):
    return sorted(normalize(s) for s in a) == sorted(normalize(s) for s in b)


def _find(session, client, list_fn, compartment_id, name, action, hints):
    items = session.call(action, list_fn, compartment_id, name=name, hints=hints)
    items = [i for i in items if i.name == name and i.lifecycle_state not in ("DELETED", "DELETING")]
    return items[0] if items else None


def _view(item, fields):
    if item is None:
        return {}
    return dict((f, getattr(item, f)) for f in fields)


def ensure_dynamic_group(session, name, rule, description, state="present", check_mode=False):
    identity = session.identity()
    action = "looking up dynamic group %r in tenancy %s" % (name, session.tenancy)
    current = _find(session, identity, identity.list_dynamic_groups, session.tenancy, name, action,
                    DYNAMIC_GROUP_HINTS)
    fields = ("name", "matching_rule", "description")
    before = _view(current, fields)
    if state == "absent":
        if current is None:
            return dict(changed=False, dynamic_group=None, diff=dict(before={}, after={}))
        if not check_mode:
            session.call("deleting dynamic group %r" % name, identity.delete_dynamic_group, current.id,
                         hints=DYNAMIC_GROUP_HINTS)
        return dict(changed=True, dynamic_group=None, diff=dict(before=before, after={}))
    after = dict(name=name, matching_rule=rule, description=description)
    if current is not None and " ".join(current.matching_rule.split()) == " ".join(rule.split()) \
            and current.description == description:
        return dict(changed=False, dynamic_group=_as_dict(current), diff=dict(before=before, after=before))
    result = current
    if check_mode:
        result = None
    elif current is None:
        details = oci.identity.models.CreateDynamicGroupDetails(
            compartment_id=session.tenancy, name=name, matching_rule=rule, description=description)
        result = session.call("creating dynamic group %r in tenancy %s" % (name, session.tenancy),
                              identity.create_dynamic_group, details, hints=DYNAMIC_GROUP_HINTS)
    else:
        details = oci.identity.models.UpdateDynamicGroupDetails(matching_rule=rule, description=description)
        result = session.call("updating the matching rule of dynamic group %r" % name,
                              identity.update_dynamic_group, current.id, details, hints=DYNAMIC_GROUP_HINTS)
    return dict(changed=True, dynamic_group=_as_dict(result) or after, diff=dict(before=before, after=after))


def ensure_policy(session, compartment_id, name, statements, description, purge=False,
                  state="present", check_mode=False, new_description="datamover.fleet"):
    identity = session.identity()
    action = "looking up policy %r in compartment %s" % (name, compartment_id)
    current = _find(session, identity, identity.list_policies, compartment_id, name, action, POLICY_HINTS)
    before = _view(current, ("name", "statements", "description"))
    if state == "absent":
        if current is None:
            return dict(changed=False, policy=None, added=[], removed=[], diff=dict(before={}, after={}))
        if not check_mode:
            session.call("deleting policy %r" % name, identity.delete_policy, current.id, hints=POLICY_HINTS)
        return dict(changed=True, policy=None, added=[], removed=list(current.statements),
                    diff=dict(before=before, after={}))
    have = list(current.statements) if current is not None else []
    target = merged_statements(have, statements, purge)
    added = [s for s in target if normalize(s) not in set(normalize(h) for h in have)]
    removed = [s for s in have if normalize(s) not in set(normalize(t) for t in target)]
    if description is None:
        description = current.description if current is not None else new_description
    after = dict(name=name, statements=target, description=description)
    if current is not None and same_statements(have, target) and after["description"] == current.description:
        return dict(changed=False, policy=_as_dict(current), added=[], removed=[],
                    diff=dict(before=before, after=before))
    result = None
    if check_mode:
        pass
    elif current is None:
        details = oci.identity.models.CreatePolicyDetails(
            compartment_id=compartment_id, name=name, statements=target, description=after["description"])
        result = session.call("creating policy %r in compartment %s" % (name, compartment_id),
                              identity.create_policy, details, hints=POLICY_HINTS)
    else:
        details = oci.identity.models.UpdatePolicyDetails(statements=target, description=after["description"])
        result = session.call("updating the statements of policy %r" % name, identity.update_policy,
                              current.id, details, hints=POLICY_HINTS)
    return dict(changed=True, policy=_as_dict(result) or after, added=added, removed=removed,
                diff=dict(before=before, after=after))


def _as_dict(model):
    if model is None:
        return None
    return oci.util.to_dict(model)
