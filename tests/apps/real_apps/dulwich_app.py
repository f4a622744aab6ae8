"""Git's smart HTTP protocol (clone, fetch, push) served by dulwich.web, as
dulwich's own `dulwich web-daemon` sets it up: make_wsgi_chain over a
DictBackend that maps URL paths to repositories. The test creates the bare
repository in the server root (ROOT/repos/git/repo.git), served at
/repo.git under the mount. (dulwich 0.21's FileSystemBackend joins the URL
path, which starts with "/", to its root and so refuses every repository
unless the root is "/".)"""
import os

from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import make_wsgi_chain

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "repos", "git", "repo.git")

application = make_wsgi_chain(DictBackend({"/repo.git": Repo(os.path.realpath(REPO))}))
