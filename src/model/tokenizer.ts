// Tokenizer (tokenizer.json through @huggingface/tokenizers) and chat template (@huggingface/jinja),
// with BOS/EOS as tokenizer_config.json says.
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFormatError } from './errors';
import { readJson, type ModelSource } from './source';

export interface ChatMessage {
  role: string;
  content: string;
}

export class TextTokenizer {
  private readonly template: Template | null;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly config: Record<string, unknown>,
    chatTemplate: string | null,
  ) {
    this.template = chatTemplate ? new Template(chatTemplate) : null;
  }

  /** A special token's text from tokenizer_config.json (a string, or an AddedToken object with `content`). */
  private specialToken(field: string): string | null {
    const raw = this.config[field];
    return (typeof raw === 'string' ? raw : (raw as { content?: string } | null)?.content) ?? null;
  }

  private tokenId(field: string): number | null {
    const content = this.specialToken(field);
    return content ? (this.tokenizer.token_to_id(content) ?? null) : null;
  }

  get bosTokenId(): number | null {
    return this.tokenId('bos_token');
  }

  get eosTokenId(): number | null {
    return this.tokenId('eos_token');
  }

  /** Ids of `text`; special tokens (e.g. BOS) are added as the tokenizer's post-processor says. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The chat template rendered to text (encode it with addSpecialTokens: false). */
  applyChatTemplate(messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new ModelFormatError('tokenizer_config.json', 'the model has no chat template');
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: this.specialToken('bos_token') ?? '',
      eos_token: this.specialToken('eos_token') ?? '',
    });
  }
}

/** tokenizer.json (required), tokenizer_config.json and chat_template.jinja (optional). */
export async function loadTokenizer(source: ModelSource): Promise<TextTokenizer> {
  const json = await readJson(source, 'tokenizer.json');
  if (!json) throw new ModelFormatError('tokenizer.json', `not found in ${source.name} (only tokenizer.json tokenizers are supported)`);
  const config = (await readJson(source, 'tokenizer_config.json')) ?? {};
  if (typeof config !== 'object' || Array.isArray(config)) throw new ModelFormatError('tokenizer_config.json', 'must hold a JSON object');
  if (typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError('tokenizer.json', 'must hold a JSON object');
  for (const field of ['bos_token', 'eos_token', 'chat_template'] as const) {
    const v = config[field];
    const ok = v == null || typeof v === 'string' || (field !== 'chat_template' && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string');
    if (!ok) throw new ModelFormatError('tokenizer_config.json', `field '${field}' must be a string${field === 'chat_template' ? '' : ' or an AddedToken object'}, got ${JSON.stringify(v)}`);
  }
  const templateFile = await source.file('chat_template.jinja');
  const template = templateFile ? await templateFile.text() : typeof config.chat_template === 'string' ? config.chat_template : null;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, config);
  } catch (e) {
    throw new ModelFormatError('tokenizer.json', `the tokenizer library refused it: ${(e as Error).message}`);
  }
  try {
    return new TextTokenizer(tokenizer, config, template);
  } catch (e) {
    throw new ModelFormatError(templateFile ? 'chat_template.jinja' : 'tokenizer_config.json', `chat_template does not parse: ${(e as Error).message}`);
  }
}
