import * as pulumi from '@pulumi/pulumi';

/**
 * `e` as a ResourceError of `resource`, message kept, so the construct's own wording (kind,
 * path, field, value, fix) reaches the user with the component the engine should blame.
 */
export function asResourceError(e: unknown, resource: pulumi.Resource | undefined): Error {
  if (pulumi.ResourceError.isInstance(e) || resource === undefined) return e as Error;
  const error = new pulumi.ResourceError(e instanceof Error ? e.message : String(e), resource);
  if (e instanceof Error && e.stack) error.stack = e.stack;
  return error;
}
