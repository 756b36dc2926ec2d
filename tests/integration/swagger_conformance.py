"""Responses checked against Docker's swagger as Go writes them: every field may be null (Go
encodes a nil slice, map or pointer as null, and the swagger marks none of them nullable), and
objects may carry fields the swagger does not list (dockerd's do). Everything else the swagger
says — types, enums, required fields, the documented success codes — is held to."""
import copy
import json
import re

import jsonschema
import yaml


def _go_nullable(node):
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str):
            node["type"] = [kind, "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        for key in ("x-nullable", "x-omitempty", "x-go-name", "x-go-type", "example", "format"):
            node.pop(key, None)
        for value in node.values():
            _go_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _go_nullable(value)


# moby maps its error kinds (errdefs: invalid parameter, not found, conflict) to these on every
# route, and the swagger lists them on some routes only: a route may answer them undocumented.
ERRDEFS = {400, 404, 409}

# Rules of the swagger that dockerd 20.10 itself breaks, found side by side by
# test_api_conformance.py (which fails if dockerd breaks one not listed here): the document is
# wrong there, not the engines. Keyed by route and the broken rule with list indexes as `N`.
SWAGGER_ERRORS = {
    ("/containers/{id}/json", "HostConfig/Isolation: enum"),  # Go's empty string, not in the enum
    ("/containers/{id}/json", "HostConfig/RestartPolicy/Name: enum"),  # "no" is missing from the enum
    ("/info", "Isolation: enum"),
    ("/system/df", "Containers/N: type"),  # documented as an array of arrays
}


def swagger_error(template, violation):
    """Whether `violation` is one of the swagger's own errors (`SWAGGER_ERRORS`)."""
    rule = re.sub(r"/\d+(?=[/:])", "/N", violation).split(" ", 2)
    return (template, " ".join(rule[:2])) in SWAGGER_ERRORS


class Swagger:
    def __init__(self, path):
        with open(path) as f:
            self.raw = yaml.safe_load(f)
        self.definitions = copy.deepcopy(self.raw.get("definitions", {}))
        _go_nullable(self.definitions)
        self.operations = []
        for template, item in self.raw["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, op in item.items():
                if isinstance(op, dict) and "responses" in op:
                    self.operations.append((method.upper(), template, pattern, {str(k): v for k, v in op["responses"].items()}))

    def responses(self, method, template):
        for m, t, _, responses in self.operations:
            if m == method.upper() and t == template:
                return responses
        return None

    def violations(self, method, template, status, content_type, body):
        """What in this response the swagger does not allow: a list of short sentences. `body`
        is bytes or text; it is read as JSON only where the swagger says it is JSON."""
        responses = self.responses(method, template)
        if responses is None:
            return []
        documented = {str(code) for code in responses}
        if str(status) not in documented and "default" not in documented and status not in ERRDEFS:
            return [f"status {status} is not documented (documented: {', '.join(sorted(documented))})"]
        spec = responses.get(str(status)) or responses.get("default") or {}
        schema = spec.get("schema")
        if schema is None or not (200 <= status < 300) or "json" not in (content_type or ""):
            return []
        try:
            value = json.loads(body)
        except ValueError:
            return [f"status {status} body is not JSON: {body[:120]!r}"]
        schema = copy.deepcopy(schema)
        _go_nullable(schema)
        schema["definitions"] = self.definitions
        validator = jsonschema.Draft4Validator(schema)
        found = []
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))[:5]:
            while error.context:  # down an anyOf/allOf to the rule that failed
                error = jsonschema.exceptions.best_match(error.context)
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            # the rule, not the value: the same break reads the same on either engine
            found.append(f"{where}: {error.validator} {json.dumps(error.validator_value, default=str)[:120]}")
        return sorted(set(found))
