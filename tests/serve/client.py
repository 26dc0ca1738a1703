"""Drives `hearth serve` with the `openai` package's own client (see tests/it/serve.rs):
a chat completion whole and streamed, the second extending the first conversation
(its prompt read from the cache: `usage.prompt_tokens_details.cached_tokens`), a tool
call whole and streamed and its result sent back, a text completion, and a wrong key
refused. Prints one JSON line of figures; exits non-zero, saying why, on any failure.

usage: python3 client.py BASE_URL API_KEY
"""
import json
import sys

import openai

base, key = sys.argv[1:3]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=300)
greedy = {"model": "default", "temperature": 0}

hello = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]
first = client.chat.completions.create(messages=hello, max_tokens=24, **greedy)
said = first.choices[0].message.content
assert said and said.strip(), first

# The conversation goes on, streamed: its prefix comes from the cache.
more = hello + [{"role": "assistant", "content": said},
                {"role": "user", "content": "Now say goodbye to her."}]
text, usage = "", None
for chunk in client.chat.completions.create(messages=more, max_tokens=24, stream=True,
                                            stream_options={"include_usage": True}, **greedy):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
assert text.strip(), "the streamed answer is empty"
assert usage is not None, "no usage chunk"
cached = usage.prompt_tokens_details.cached_tokens
assert cached >= first.usage.prompt_tokens, (cached, first.usage.prompt_tokens)

# A tool call, whole and streamed.
tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
ask = [{"role": "user", "content": "What is the weather in Paris right now?"}]
r = client.chat.completions.create(messages=ask, tools=tools, max_tokens=80, **greedy)
calls = r.choices[0].message.tool_calls
assert r.choices[0].finish_reason == "tool_calls" and calls, r
call = calls[0]
assert call.function.name == "get_weather", call
assert "paris" in json.loads(call.function.arguments)["city"].lower(), call
streamed = {}
for chunk in client.chat.completions.create(messages=ask, tools=tools, max_tokens=80,
                                            stream=True, **greedy):
    for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        s = streamed.setdefault(tc.index, {"name": "", "arguments": ""})
        s["name"] += tc.function.name or ""
        s["arguments"] += tc.function.arguments or ""
assert streamed.get(0, {}).get("name") == "get_weather", streamed
# Its result goes back; the model answers from it.
back = ask + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
              {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}]
r = client.chat.completions.create(messages=back, tools=tools, max_tokens=40, **greedy)
assert r.choices[0].message.content and r.choices[0].message.content.strip(), r

# A raw text completion.
c = client.completions.create(model="default", prompt="def add(a, b):", max_tokens=12, temperature=0)
assert c.choices[0].text, c

# A wrong key is refused.
try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass

print(json.dumps({"first_prompt_tokens": first.usage.prompt_tokens,
                  "second_prompt_tokens": usage.prompt_tokens, "cached_tokens": cached}))
