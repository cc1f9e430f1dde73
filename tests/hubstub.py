"""A loopback stand-in for the Hugging Face hub: the HTTP routes the real clients call.

`huggingface_hub` (and through it `prepare-data` and `prepare-models`) talks to whatever
HF_ENDPOINT names. This server answers the routes those calls use, for repos laid out like the
real ones (hub-readiness.md): repo info at a revision (`/api/<type>s/<id>/revision/<rev>`), the
recursive tree at a commit (`/api/<type>s/<id>/tree/<sha>`), and file downloads with the
headers the client checks (`X-Repo-Commit`, `ETag`, `Content-Length`; `/datasets/<id>/resolve/
<rev>/<path>` and `/<id>/resolve/<rev>/<path>` for models). Branches and refs
(`main`, `refs/convert/parquet`) resolve to commit shas, as on the hub. Every request is
recorded, so a test can assert what was (and was not) downloaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

# What the hub stores in git LFS: the client then gets the sha256 in the tree listing.
LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".pth", ".model", ".gguf", ".v3")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class StubRepo:
    """One repo: refs (branch or ref name -> commit) and each commit's files."""

    repo_type: str  # dataset | model
    repo_id: str
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


class HubStub:
    """Add repos, then `start()`; `url` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], StubRepo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._server: ThreadingHTTPServer | None = None

    def add(
        self, repo_type: str, repo_id: str, files: dict[str, bytes | Path], revision: str = "main"
    ) -> str:
        """Put `files` at `revision` of a repo (a new commit); return the commit sha."""
        contents = {
            path: (data.read_bytes() if isinstance(data, Path) else data)
            for path, data in files.items()
        }
        digest = hashlib.sha1(f"{repo_type}/{repo_id}@{revision}".encode())
        for path in sorted(contents):
            digest.update(path.encode() + b"\0" + contents[path])
        sha = digest.hexdigest()
        repo = self.repos.setdefault((repo_type, repo_id), StubRepo(repo_type, repo_id))
        repo.commits[sha] = contents
        repo.refs[revision] = sha
        return sha

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubStub:
        stub = self

        class Handler(_Handler):
            hub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def downloads(self) -> list[str]:
        """The paths of every file GET (not HEAD) so far."""
        return [path for method, path in self.requests if method == "GET" and "/resolve/" in path]


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _entry(path: str, data: bytes) -> dict:
    entry = {"type": "file", "oid": _blob_sha(data), "size": len(data), "path": path}
    if path.endswith(LFS_SUFFIXES):
        entry["lfs"] = {
            "oid": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "pointerSize": 134,
        }
    return entry


class _Handler(BaseHTTPRequestHandler):
    hub: HubStub

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    # ------------------------------------------------------------------ routing

    def _route(self, body: bool) -> None:
        url = urlparse(self.path)
        self.hub.requests.append((self.command, url.path))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        try:
            if parts[:1] == ["api"] and len(parts) >= 6 and parts[1] in ("datasets", "models"):
                kind = parts[1][:-1]
                repo_id, action, rest = "/".join(parts[2:4]), parts[4], parts[5:]
                if action == "revision":
                    return self._info(kind, repo_id, "/".join(rest))
                if action == "tree":
                    query = parse_qs(url.query)
                    return self._tree(kind, repo_id, rest[0], "/".join(rest[1:]), query)
            if len(parts) >= 5 and parts[0] == "datasets" and parts[3] == "resolve":
                return self._file("dataset", "/".join(parts[1:3]), parts[4], parts[5:], body)
            if len(parts) >= 4 and parts[2] == "resolve":
                return self._file("model", "/".join(parts[:2]), parts[3], parts[4:], body)
        except IndexError:
            pass
        self._error(404, "EntryNotFound", f"no route for {url.path}")

    def _files_at(self, kind: str, repo_id: str, revision: str) -> tuple[str, dict] | None:
        """(commit sha, its files), or None after answering 404 as the hub does."""
        repo = self.hub.repos.get((kind, repo_id))
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return None
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return sha, repo.commits[sha]

    # ------------------------------------------------------------------ answers

    def _info(self, kind: str, repo_id: str, revision: str) -> None:
        found = self._files_at(kind, repo_id, revision)
        if found is None:
            return
        sha, files = found
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "lastModified": "2025-01-01T00:00:00.000Z",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [{"rfilename": path} for path in sorted(files)],
        }
        if kind == "model":
            info["modelId"] = repo_id
        self._json(200, info, sha)

    def _tree(self, kind: str, repo_id: str, revision: str, prefix: str, query: dict) -> None:
        found = self._files_at(kind, repo_id, revision)
        if found is None:
            return
        sha, files = found
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        base = f"{prefix}/" if prefix else ""
        entries, folders = [], set()
        for path in sorted(files):
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            pieces = rest.split("/")
            for depth in range(1, len(pieces)):
                folder = base + "/".join(pieces[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append(
                        {
                            "type": "directory",
                            "oid": _blob_sha(folder.encode()),
                            "size": 0,
                            "path": folder,
                        }
                    )
            if recursive or len(pieces) == 1:
                entries.append(_entry(path, files[path]))
        self._json(200, entries, sha)

    def _file(self, kind: str, repo_id: str, revision: str, path: list[str], body: bool) -> None:
        found = self._files_at(kind, repo_id, revision)
        if found is None:
            return
        sha, files = found
        name = "/".join(path)
        data = files.get(name)
        if data is None:
            self._error(404, "EntryNotFound", f"{name} not found at {revision}", sha)
            return
        entry = _entry(name, data)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        start = 0
        ranged = self.headers.get("Range", "")
        match = re.fullmatch(r"bytes=(\d+)-", ranged)
        if match:
            start = min(int(match.group(1)), len(data))
        payload = data[start:]
        self.send_response(206 if match else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Repo-Commit", sha)
        self.send_header("ETag", f'"{etag}"')
        if "lfs" in entry:
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _json(self, status: int, payload: object, sha: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if sha:
            self.send_header("X-Repo-Commit", sha)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, sha: str | None = None) -> None:
        data = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if sha:
            self.send_header("X-Repo-Commit", sha)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def is_commit(text: str) -> bool:
    return bool(_COMMIT.fullmatch(text))
