"""Raw data -> representation matrices: ``humelabel embed text`` / ``embed images``.

* :mod:`.inputs` reads texts (.txt/.csv/.jsonl) and lists image files (folders, lists).
* :mod:`.text` loads sentence-transformers models (offline by default);
  :mod:`.tfidf` is the model-free TF-IDF + SVD space.
* :mod:`.images` wraps Hugging Face, timm, open_clip and torchvision image models.
* :mod:`.store` computes rows in resumable shards and writes ``X.npy`` + ``X.meta.json``.
* :mod:`.jobs` ties them together (and caches embeddings for ``humelabel run``).

Optional packages are imported only when a model needs them; a missing one raises
:class:`MissingDependency` naming the extra to install.
"""

from ._deps import MissingDependency, ModelUnavailable
from .inputs import ImageInput, TextInput, is_image_input, list_images, read_texts
from .jobs import EmbedOptions, cached_embedding, embed_images, embed_texts, is_tfidf
from .store import meta_path, read_meta
from .tfidf import TfidfSettings

__all__ = [
    "EmbedOptions",
    "ImageInput",
    "MissingDependency",
    "ModelUnavailable",
    "TextInput",
    "TfidfSettings",
    "cached_embedding",
    "embed_images",
    "embed_texts",
    "is_image_input",
    "is_tfidf",
    "list_images",
    "meta_path",
    "read_meta",
    "read_texts",
]
