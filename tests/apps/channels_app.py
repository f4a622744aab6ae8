"""A Django Channels project in one file (Debian's python3-django-channels
4.0 on Django 3.2), with its in-memory channel layer (tests/e2e/
test_websocket.cpp): ProtocolTypeRouter with Django's own ASGI app for HTTP
and, for WebSockets, AllowedHostsOriginValidator around a URLRouter of
consumers as the Channels tutorial writes them:

  ws/echo/       AsyncWebsocketConsumer: echoes, picks the first offered
                 subprotocol, "close" closes with 4013
  ws/sync/       WebsocketConsumer (sync, run in a thread by Channels)
  ws/chat/ROOM/  a group on the channel layer: what one member sends,
                 every member of the room gets
  ws/refuse/     closes in connect(): refused before accepting (403)

and over HTTP, /notify/ROOM/?text=T, a sync Django view that pushes T to
the room's sockets through the layer (async_to_sync, as Channels' docs do).

Channels 4.0's URLRouter matches scope["path"] whole, the mount included:
mount it at / (PyApp / ... asgi). /events/ tells what the consumers saw.
"""
import os

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="pympm-test-only-not-a-secret",
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["channels"],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from asgiref.sync import async_to_sync  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

EVENTS = []


def events(request):
    return JsonResponse({"events": EVENTS, "pid": os.getpid()})


def notify(request, room):
    async_to_sync(get_channel_layer().group_send)(
        "chat_" + room, {"type": "chat.message", "text": request.GET.get("text", "")}
    )
    return JsonResponse({"notified": room})


urlpatterns = [path("events/", events), path("notify/<str:room>/", notify)]


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        offered = self.scope["subprotocols"]
        await self.accept(subprotocol=offered[0] if offered else None)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "close":
            await self.close(code=4013)
        elif text_data is not None:
            await self.send(text_data="channels: " + text_data)
        else:
            await self.send(bytes_data=bytes_data[::-1])

    async def disconnect(self, code):
        EVENTS.append("echo-disconnect-%s" % code)


class SyncEchoConsumer(WebsocketConsumer):
    def connect(self):
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data="sync: " + (text_data or ""))

    def disconnect(self, code):
        EVENTS.append("sync-disconnect-%s" % code)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = "chat_" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)
        EVENTS.append("chat-disconnect-%s" % code)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.room, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event):
        await self.send(text_data=event["text"])


class RefuseConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close()


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(
            URLRouter(
                [
                    path("ws/echo/", EchoConsumer.as_asgi()),
                    path("ws/sync/", SyncEchoConsumer.as_asgi()),
                    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
                    path("ws/refuse/", RefuseConsumer.as_asgi()),
                ]
            )
        ),
    }
)
