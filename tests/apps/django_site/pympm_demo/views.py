import asyncio
import html
import os
import threading

from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import get_script_prefix, reverse


def index(request):
    # reverse() includes the mount: Django takes it from SCRIPT_NAME.
    return JsonResponse(
        {
            "hello": reverse("hello", args=["world"]),
            "form": reverse("form"),
            "form_absolute": request.build_absolute_uri(reverse("form")),
            "script_prefix": get_script_prefix(),
            "path": request.path,
            "path_info": request.path_info,
            "pid": os.getpid(),
        }
    )


def hello(request, name):
    return HttpResponse("Hello, %s!\n" % name, content_type="text/plain")


def form(request):
    if request.method == "POST":
        # Only reached when CsrfViewMiddleware accepted the token.
        return HttpResponse("Thanks, %s!\n" % request.POST.get("name", ""), content_type="text/plain")
    page = (
        '<form method="post" action="%s">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="%s">'
        '<input name="name"><button>Send</button></form>\n'
        % (html.escape(reverse("form")), html.escape(get_token(request)))
    )
    return HttpResponse(page)


async def async_view(request, n):
    # An async view: under ASGI it runs on the event loop, not a worker.
    await asyncio.sleep(0.05)
    return JsonResponse(
        {
            "n": n,
            "path": request.path,
            "path_info": request.path_info,
            "script_prefix": get_script_prefix(),
            "url": reverse("async_view", args=[n]),
            "thread": threading.current_thread().name,
        }
    )
