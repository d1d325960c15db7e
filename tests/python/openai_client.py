"""The official `openai` client against maas' OpenAI routes, unchanged: for each case of a
decoder's greedy.json, completions.create or chat.completions.create, non-streaming and
streaming (with stream_options.include_usage), at temperature 0. Prints what a user reads:
the texts, finish reasons, usage and chunk counts, for tests/text_serving.rs to judge.

usage: python openai_client.py BASE_URL MODEL GREEDY_JSON EXTRA_PROMPT"""
import json
import sys

import openai

base_url, model, greedy_path, extra_prompt = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
cases = json.load(open(greedy_path))["cases"]


def completion(prompt, max_tokens, chat):
    if chat:
        return client.chat.completions.create(
            model=model, messages=prompt, max_tokens=max_tokens, temperature=0
        )
    return client.completions.create(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=0
    )


def stream(prompt, max_tokens, chat):
    kwargs = dict(model=model, max_tokens=max_tokens, temperature=0, stream=True,
                  stream_options={"include_usage": True})
    if chat:
        chunks = list(client.chat.completions.create(messages=prompt, **kwargs))
        pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    else:
        chunks = list(client.completions.create(prompt=prompt, **kwargs))
        pieces = [c.choices[0].text for c in chunks if c.choices]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage is not None]
    return {
        "text": "".join(pieces),
        "pieces": pieces,
        "finish_reasons": finish,
        "usage": usage[-1].model_dump() if usage else None,
        "usage_chunks": len(usage),
        "last_has_no_choices": not chunks[-1].choices,
        "ids": sorted({c.id for c in chunks}),
    }


def run(prompt, max_tokens, chat):
    answer = completion(prompt, max_tokens, chat)
    choice = answer.choices[0]
    return {
        "object": answer.object,
        "model": answer.model,
        "text": choice.message.content if chat else choice.text,
        "role": choice.message.role if chat else None,
        "finish_reason": choice.finish_reason,
        "usage": answer.usage.model_dump(),
        "stream": stream(prompt, max_tokens, chat),
    }


results = [run(c["prompt"], c["max_tokens"], c["chat"]) for c in cases]
extra = run(extra_prompt, 24, False)
models = [m.id for m in client.models.list()]
try:
    client.completions.create(model=model, prompt="x", max_tokens=4, top_p=1.5)
    refused = None
except openai.BadRequestError as e:
    refused = {"status": e.status_code, "message": e.message, "param": e.param,
               "type": e.type}
try:
    client.completions.create(model="no-such-model", prompt="x", max_tokens=4)
    unknown = None
except openai.NotFoundError as e:
    unknown = {"status": e.status_code, "code": e.code}
print(json.dumps({"cases": results, "extra": extra, "models": models, "refused": refused,
                  "unknown": unknown}))
