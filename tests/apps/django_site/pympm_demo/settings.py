"""Settings of the Django demo project served by mod_pympm (tests and
conf/examples/django-site.conf): no database, no static files, CSRF on."""
SECRET_KEY = "pympm-demo-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "django.example.org"]
ROOT_URLCONF = "pympm_demo.urls"
WSGI_APPLICATION = "pympm_demo.wsgi.application"
INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
TEMPLATES = []
DATABASES = {}
USE_TZ = True
USE_I18N = False
