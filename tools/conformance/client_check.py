"""`make client-check`: a Python client generated from Docs/openapi.yaml (openapi-python-client,
pinned in tools/requirements.txt) drives a live server through a stream's life: create,
classify (multipart and JSON), read, checkpoint, list, download, upload, reset, restore, delete,
and a stateless classify. Every answer is parsed by the generated models, so a document whose
schemas do not describe the server's answers fails here. Run by with_server.sh (RADA_URL,
RADA_KEY); argv[1] is the folder holding the generated package `rada_client`."""
import base64
import io
import os
import sys

from pngs import png

sys.path.insert(0, sys.argv[1])

from rada_client import AuthenticatedClient  # noqa: E402
from rada_client.api.default import (  # noqa: E402
    classify,
    classify_stateless,
    create_checkpoint,
    create_stream,
    delete_stream,
    download_checkpoint,
    get_stream,
    list_checkpoints,
    reset_stream,
    restore_checkpoint,
    upload_checkpoint,
)
from rada_client.models import (  # noqa: E402
    Checkpoint,
    Classification,
    ClassifyFilesBody,
    CreateCheckpointBody,
    CreateStreamWithLabels,
    Error,
    Images,
    HyperparametersPatch,
    HyperparametersPatchPolicy,
    StatelessClassifyWithPrompts,
    Stream,
)
from rada_client.types import File, Unset  # noqa: E402

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: object = "") -> None:
    results.append((name, bool(ok), str(detail)))
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail if not ok else ''}".rstrip())


def image(seed: int) -> bytes:
    return png(28, 28, seed % 2 == 0, bytes((seed * 37 + i * 11) % 256 for i in range(28 * 28)))


def main() -> int:
    client = AuthenticatedClient(base_url=os.environ["RADA_URL"], token=os.environ["RADA_KEY"], raise_on_unexpected_status=True)
    hyperparameters = HyperparametersPatch(policy=HyperparametersPatchPolicy.ADAPTTHENPREDICT, steps_per_batch=2)
    created = create_stream.sync_detailed(client=client, body=CreateStreamWithLabels(id="client-1", labels=LABELS, hyperparameters=hyperparameters))
    check("create stream: 201 and a Stream", created.status_code == 201 and isinstance(created.parsed, Stream), created.content[:200])
    stream = created.parsed
    check("create stream: labels and hyperparameters as sent", stream.labels == LABELS and stream.hyperparameters.steps_per_batch == 2)

    files = ClassifyFilesBody(image=File(payload=io.BytesIO(image(1)), file_name="1.png", mime_type="image/png"))
    answer = classify.sync(client=client, id="client-1", body=files, top=3)
    check("classify (multipart): a Classification", isinstance(answer, Classification), answer)
    if isinstance(answer, Classification):
        top = answer.results[0].top
        check("classify: 3 labels, probabilities in order", len(top) == 3 and top[0].probability >= top[2].probability, top)
        check("classify: request 1, 2 optimiser steps before the answer", answer.request == 1 and answer.optimizer_steps == 2, answer)

    answer = classify.sync(client=client, id="client-1", body=Images(images=[base64.b64encode(image(s)).decode() for s in (2, 3)]))
    check("classify (JSON): 2 results, request 2", isinstance(answer, Classification) and len(answer.results) == 2 and answer.request == 2, answer)

    state = get_stream.sync(client=client, id="client-1")
    check("get stream: 2 requests, 3 images, 4 optimiser steps", isinstance(state, Stream) and (state.requests, state.samples_seen, state.optimizer_steps) == (2, 3, 4), state)

    saved = create_checkpoint.sync(client=client, id="client-1", body=CreateCheckpointBody(name="after-2"))
    check("checkpoint: 201 and a Checkpoint", isinstance(saved, Checkpoint) and saved.name == "after-2" and saved.bytes_ > 0, saved)
    listed = list_checkpoints.sync(client=client, id="client-1")
    check("list checkpoints: after-2", [c.name for c in listed.checkpoints] == ["after-2"], listed)
    file = download_checkpoint.sync(client=client, id="client-1", name="after-2")
    data = file.payload.read() if isinstance(file, File) else b""
    check("download: the safetensors file", len(data) == saved.bytes_ and int.from_bytes(data[:8], "little") < len(data), len(data))
    uploaded = upload_checkpoint.sync(client=client, id="client-1", name="copy", body=File(payload=io.BytesIO(data)))
    check("upload the downloaded file under another name: 201", isinstance(uploaded, Checkpoint) and uploaded.bytes_ == len(data), uploaded)

    reset = reset_stream.sync(client=client, id="client-1")
    check("reset: counters cleared", isinstance(reset, Stream) and (reset.requests, reset.optimizer_steps) == (0, 0), reset)
    restored = restore_checkpoint.sync(client=client, id="client-1", name="copy")
    check("restore: counters back", isinstance(restored, Stream) and (restored.requests, restored.optimizer_steps) == (2, 4), restored)

    refused = create_stream.sync_detailed(client=client, body=CreateStreamWithLabels(id="client-1", labels=["a"]))
    check("create again: 409 as an Error", refused.status_code == 409 and isinstance(refused.parsed, Error) and refused.parsed.error.code.value == "conflict", refused.content)

    body = StatelessClassifyWithPrompts.from_dict(
        {"prompts": {"Bag": ["a photo of a bag"], "Sneaker": ["a photo of a sneaker"]}, "images": [base64.b64encode(image(4)).decode()]})
    stateless = classify_stateless.sync(client=client, body=body, top=2)
    check("stateless classify: labels are the sorted prompt keys", isinstance(stateless, Classification)
          and sorted(t.label for t in stateless.results[0].top) == ["Bag", "Sneaker"] and isinstance(stateless.request, Unset), stateless)

    deleted = delete_stream.sync_detailed(client=client, id="client-1")
    check("delete: 204", deleted.status_code == 204, deleted.status_code)
    gone = get_stream.sync_detailed(client=client, id="client-1")
    check("get after delete: 404 as an Error", gone.status_code == 404 and isinstance(gone.parsed, Error), gone.content)

    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
