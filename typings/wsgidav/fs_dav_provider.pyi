from typing import Any

from _typeshed.wsgi import WSGIEnvironment
from wsgidav.dav_provider import DAVProvider, _DAVResource

class FilesystemProvider(DAVProvider):
    root_folder_path: str
    readonly: bool
    def __init__(
        self, root_folder: str, *, readonly: bool = False, fs_opts: dict[str, Any] | None = None
    ) -> None: ...
    def get_resource_inst(self, path: str, environ: WSGIEnvironment) -> _DAVResource | None: ...
