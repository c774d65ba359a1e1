"""Render a kustomize overlay with the subset of kustomize that deploy/k8s uses.

Used where no kustomize is installed (`kubectl kustomize` is preferred when present, and
`deploy-validate` checks that both give the same objects). Supported, and nothing else:
`resources` (files and directories with a kustomization.yaml), `namespace`, `images`
(newName/newTag/digest) and `patches` holding JSON6902 operations, inline or in a file, with a
target selected by group, version, kind, name (an anchored regular expression, as in
kustomize), namespace and labelSelector. Any other kustomization field is an error, so the
subset cannot silently drift from what the overlays use.

    python render_kustomize.py deploy/k8s/overlays/dev > dev.yaml
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}

# Kinds that live outside any namespace: kustomize's namespace transformer leaves them alone.
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "ClusterIssuer",
    "ClusterSecretStore",
    "ClusterTriggerAuthentication",
}


class KustomizeSubsetError(Exception):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def build(directory: Path) -> list[dict[str, Any]]:
    """Build one kustomization directory into its list of objects."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeSubsetError(f"{directory}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text()) or {}
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise KustomizeSubsetError(f"{path}: unsupported fields {sorted(unknown)}")

    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(build(target))
        elif target.is_file():
            objects.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
        else:
            raise KustomizeSubsetError(f"{path}: resource {entry} not found")
    _reject_duplicates(objects, path)

    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, directory)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images", []):
        for obj in objects:
            _set_image(obj, image)
    return objects


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (
        obj.get("apiVersion", ""),
        obj.get("kind", ""),
        meta.get("namespace", ""),
        meta.get("name", ""),
    )


def _reject_duplicates(objects: list[dict[str, Any]], where: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = _identity(obj)
        if key in seen:
            raise KustomizeSubsetError(f"{where}: {key} is defined twice")
        seen.add(key)


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _matches(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    group, version = _group_version(obj.get("apiVersion", ""))
    meta = obj.get("metadata", {})
    checks = {
        "group": group,
        "version": version,
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
    }
    for field, actual in checks.items():
        wanted = target.get(field)
        if wanted is not None and not re.fullmatch(str(wanted), actual):
            return False
    selector = target.get("labelSelector")
    if selector:
        labels = meta.get("labels", {}) or {}
        for term in str(selector).split(","):
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    unknown = set(target) - {"group", "version", "kind", "name", "namespace", "labelSelector"}
    if unknown:
        raise KustomizeSubsetError(f"patch target: unsupported fields {sorted(unknown)}")
    return True


def _apply_patch(objects: list[dict[str, Any]], patch: dict[str, Any], directory: Path) -> None:
    if "path" in patch:
        text = (directory / patch["path"]).read_text()
    elif "patch" in patch:
        text = patch["patch"]
    else:
        raise KustomizeSubsetError(f"{directory}: a patch needs `patch` or `path`")
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeSubsetError(
            f"{directory}: only JSON6902 patches (a list of operations) are supported, "
            f"got {text[:60]!r}"
        )
    target = patch.get("target")
    if not target:
        raise KustomizeSubsetError(f"{directory}: a JSON6902 patch needs a target")
    selected = [obj for obj in objects if _matches(obj, target)]
    if not selected:
        raise KustomizeSubsetError(f"{directory}: patch target {target} matches nothing")
    for obj in selected:
        for operation in operations:
            apply_json6902(obj, operation)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeSubsetError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts:
        if isinstance(node, list):
            node = node[_index(node, part, path, allow_end=False)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KustomizeSubsetError(f"path {path!r} does not exist")
    return node


def _index(node: list[Any], part: str, path: str, allow_end: bool) -> int:
    if allow_end and part == "-":
        return len(node)
    if not re.fullmatch(r"0|[1-9][0-9]*", part):
        raise KustomizeSubsetError(f"path {path!r}: {part!r} is not an array index")
    index = int(part)
    limit = len(node) if allow_end else len(node) - 1
    if index > limit:
        raise KustomizeSubsetError(f"path {path!r}: index {index} out of range")
    return index


def apply_json6902(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """Apply one RFC 6902 operation to `document` in place."""
    op = operation.get("op")
    path = operation.get("path", "")
    parts = _pointer(path)
    if op in ("add", "replace", "test") and "value" not in operation:
        raise KustomizeSubsetError(f"{op} {path}: no value")
    if op == "test":
        if _walk(document, parts, path) != operation["value"]:
            raise KustomizeSubsetError(f"test {path}: value differs")
        return
    if op in ("move", "copy"):
        source_parts = _pointer(operation["from"])
        value = copy.deepcopy(_walk(document, source_parts, operation["from"]))
        if op == "move":
            apply_json6902(document, {"op": "remove", "path": operation["from"]})
        apply_json6902(document, {"op": "add", "path": path, "value": value})
        return
    if not parts:
        raise KustomizeSubsetError(f"{op} on the whole document is not supported")
    parent = _walk(document, parts[:-1], path)
    last = parts[-1]
    if op == "add":
        value = copy.deepcopy(operation["value"])
        if isinstance(parent, list):
            parent.insert(_index(parent, last, path, allow_end=True), value)
        elif isinstance(parent, dict):
            parent[last] = value
        else:
            raise KustomizeSubsetError(f"add {path}: parent is not a container")
    elif op == "replace":
        value = copy.deepcopy(operation["value"])
        if isinstance(parent, list):
            parent[_index(parent, last, path, allow_end=False)] = value
        elif isinstance(parent, dict) and last in parent:
            parent[last] = value
        else:
            raise KustomizeSubsetError(f"replace {path}: path does not exist")
    elif op == "remove":
        if isinstance(parent, list):
            del parent[_index(parent, last, path, allow_end=False)]
        elif isinstance(parent, dict) and last in parent:
            del parent[last]
        else:
            raise KustomizeSubsetError(f"remove {path}: path does not exist")
    else:
        raise KustomizeSubsetError(f"unknown JSON6902 op {op!r}")


def split_image(reference: str) -> tuple[str, str | None, str | None]:
    """Split `name[:tag][@digest]` into its three parts (a registry port is part of the name)."""
    name, _, digest = reference.partition("@")
    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _set_image(node: Any, image: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = _new_image(container["image"], image)
            _set_image(value, image)
    elif isinstance(node, list):
        for item in node:
            _set_image(item, image)


def _new_image(reference: str, image: dict[str, Any]) -> str:
    name, tag, digest = split_image(reference)
    if name != image["name"]:
        return reference
    name = image.get("newName", name)
    if "digest" in image:
        return f"{name}@{image['digest']}"
    if "newTag" in image:
        tag, digest = str(image["newTag"]), None
    result = name
    if tag:
        result += f":{tag}"
    if digest:
        result += f"@{digest}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    try:
        objects = build(args.directory)
    except KustomizeSubsetError as error:
        print(f"render_kustomize: {error}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=True, default_flow_style=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
