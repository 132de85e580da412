"""LLM helpers: the chat-model factory, answer parsing, prompts, cost, cache and the tape.

    service.LLMService   ask(AskRequest) -> Answer: budget, call, parse, one repair, tape
    client.make_chat_model(settings.llm, model, api_key) -> ChatOpenAI (OpenRouter)
    parsing.extract_json / message_payload: bare, fenced, prose-wrapped JSON and tool calls
    prompts.load_prompt(name, override=, path=) -> Prompt (hash, variables, render)
    tape.Tape            the SQLite record of every answer (replayable by a backtest)
    cache.AnswerCache    diskcache under the state directory; freshness by as_of
    usage.Usage / llm_block: tokens and cost per call, node and cycle

Nothing here knows about LangGraph. Importing this package does not import langchain-openai;
`service` and `client` do.
"""
