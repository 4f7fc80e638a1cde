// What image() accepts (SPEC §5): a data: URL, { image_url, detail? }, or an MCP image block as
// servers send it. Loaded with format.ts before prelude.ts, into the same closure.

type ImageDetail = import('../dist/src/isolate/sandbox-protocol.js').ImageDetail;
const IMAGE_DETAILS: readonly ImageDetail[] = ['auto', 'low', 'high', 'original'];

function imageUrlFrom(input: unknown): { url: string; detail: unknown } {
  if (typeof input === 'string') return { url: input, detail: undefined };
  if (input !== null && typeof input === 'object') {
    const item = input as Record<string, unknown>;
    if (typeof item.image_url === 'string') return { url: item.image_url, detail: item.detail };
    // An MCP image block: mimeType (or mime_type), and a detail in _meta as some hosts send it.
    const mimeType = item.mimeType ?? item.mime_type;
    if (item.type === 'image' && typeof item.data === 'string' && typeof mimeType === 'string') {
      const meta = item._meta !== null && typeof item._meta === 'object' ? (item._meta as Record<string, unknown>) : {};
      return { url: `data:${mimeType};base64,${item.data}`, detail: item.detail ?? meta['codex/imageDetail'] };
    }
  }
  throw new TypeError(
    'image() expects a data: URL, { image_url, detail? }, or an MCP image block { type: "image", data, mimeType }',
  );
}

function imageDetail(detail: unknown): ImageDetail {
  if (detail === undefined || detail === null) return 'high';
  const normalized = IMAGE_DETAILS.find((known) => typeof detail === 'string' && known === detail.toLowerCase());
  if (normalized === undefined)
    throw new TypeError(`image() detail must be one of ${IMAGE_DETAILS.join(', ')}; got ${codecellInspect(detail)}`);
  return normalized;
}

/** The image's data: URL and detail (the argument's, else the item's, else high); throws a TypeError. */
function codecellImage(urlOrItem: unknown, detail: unknown): { url: string; detail: ImageDetail } {
  const { url, detail: itemDetail } = imageUrlFrom(urlOrItem);
  if (/^https?:/i.test(url)) throw new TypeError('image() does not accept remote http(s) URLs; pass a data: URL');
  if (!/^data:image\/[a-z0-9.+-]+(;[^,]*)?,/i.test(url))
    throw new TypeError('image() expects a data: URL of an image type (data:image/png;base64,...)');
  return { url, detail: imageDetail(detail === undefined ? itemDetail : detail) };
}
