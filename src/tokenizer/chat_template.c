/*
 * chat_template.c - built-in chat template renderers (placeholder until the
 * renderers land): reports KVLM_ERR_UNSUPPORTED.
 */
#include "core/status.h"
#include "tokenizer/tokenizer.h"

const char *kvlm_tokenizer_chat_template_name(const kvlm_tokenizer *tok) { (void)tok; return NULL; }

kvlm_status kvlm_chat_render(const kvlm_tokenizer *tok, const char *name, const kvlm_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char **out, size_t *len)
{
    return kvlm_fail(KVLM_ERR_UNSUPPORTED, "chat templates are not implemented yet");
}
