"""The same Django project as an ASGI application (async views run on the
child's event loop)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pympm_demo.settings")
application = get_asgi_application()
