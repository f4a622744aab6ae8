# Mercurial's hgweb, deployed as its documentation says (contrib/hgweb.wsgi
# in Mercurial's sources): the script names a config file, hgweb serves the
# repositories listed there. The test writes the config (its repositories
# and [web] allow_push / push_ssl) in the server root: ROOT/repos/hgweb.config.
import os

config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "repos", "hgweb.config").encode()

from mercurial import demandimport

demandimport.enable()

from mercurial.hgweb import hgweb

application = hgweb(config)
