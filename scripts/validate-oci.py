#!/usr/bin/env python3
"""Validates an OCI image layout (a directory, or a `save` tar) against the image-spec JSON schemas
that Debian's golang-github-opencontainers-image-spec-dev ships. Exit 0 when every document is valid.

Usage: validate-oci.py LAYOUT_DIR_OR_TAR
"""
import json
import os
import sys
import tarfile
import tempfile

from jsonschema import Draft4Validator

try:  # jsonschema >= 4.18
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4
except ImportError:  # Debian 12's python3-jsonschema 4.10
    Registry = None

SCHEMAS = "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema"


BASES = ("", "https://opencontainers.org/schema/", "https://opencontainers.org/schema/image/",
         "https://opencontainers.org/schema/descriptor/")


def documents():
    for name in os.listdir(SCHEMAS):
        if name.endswith(".json"):
            with open(os.path.join(SCHEMAS, name)) as f:
                yield name, json.load(f)


def registry():
    if Registry is None:
        return {base + name: doc for name, doc in documents() for base in BASES}
    resources = []
    for name, doc in documents():
        resource = Resource.from_contents(doc, default_specification=DRAFT4)
        # Relative $refs resolve against the nearest (possibly nested) "id" URI.
        for base in BASES:
            resources.append((base + name, resource))
    return Registry().with_resources(resources)


def validator(reg, name):
    with open(os.path.join(SCHEMAS, name)) as f:
        schema = json.load(f)
    if Registry is None:
        from jsonschema import RefResolver
        return Draft4Validator(schema, resolver=RefResolver.from_schema(schema, store=reg))
    return Draft4Validator(schema, registry=reg)


def blob(root, digest):
    algorithm, hex_ = digest.split(":", 1)
    with open(os.path.join(root, "blobs", algorithm, hex_), "rb") as f:
        return json.loads(f.read())


def main(path):
    work = None
    if os.path.isfile(path):
        work = tempfile.mkdtemp(prefix="oci-validate-")
        with tarfile.open(path) as t:
            t.extractall(work, filter="data")
        path = work
    reg = registry()
    index_v, manifest_v = validator(reg, "image-index-schema.json"), validator(reg, "image-manifest-schema.json")
    config_v, layout_v = validator(reg, "config-schema.json"), validator(reg, "image-layout-schema.json")
    errors = []
    with open(os.path.join(path, "oci-layout")) as f:
        errors += [f"oci-layout: {e.message}" for e in layout_v.iter_errors(json.load(f))]
    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    errors += [f"index.json: {e.message}" for e in index_v.iter_errors(index)]
    for m in index["manifests"]:
        manifest = blob(path, m["digest"])
        errors += [f"manifest {m['digest']}: {e.message}" for e in manifest_v.iter_errors(manifest)]
        config = blob(path, manifest["config"]["digest"])
        errors += [f"config {manifest['config']['digest']}: {e.message}" for e in config_v.iter_errors(config)]
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
