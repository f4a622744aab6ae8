"""WSGI entry point: PyApp /django pympm_demo.wsgi:application, with the
project folder on PyPath."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pympm_demo.settings")

application = get_wsgi_application()
