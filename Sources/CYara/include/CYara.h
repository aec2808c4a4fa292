#ifndef CYARA_H
#define CYARA_H
#include <yara.h>
#include <stdint.h>
#include <stdio.h>

// ---------------------------------------------------------------------------
// libyara: macro constants and struct accessors re-exported for Swift.
// YR_RULE / YR_META fields are declared through DECLARE_REFERENCE unions, so
// Swift reads them through these helpers instead of touching the layout.
// ---------------------------------------------------------------------------

static inline int edr_yr_callback_msg_rule_matching(void) { return CALLBACK_MSG_RULE_MATCHING; }
static inline int edr_yr_callback_continue(void) { return CALLBACK_CONTINUE; }
static inline int edr_yr_error_level_warning(void) { return YARA_ERROR_LEVEL_WARNING; }
static inline int edr_yr_error_success(void) { return ERROR_SUCCESS; }
static inline int edr_yr_error_scan_timeout(void) { return ERROR_SCAN_TIMEOUT; }
static inline int edr_yr_error_too_many_matches(void) { return ERROR_TOO_MANY_MATCHES; }
static inline int edr_yr_meta_type_integer(void) { return META_TYPE_INTEGER; }
static inline int edr_yr_meta_type_boolean(void) { return META_TYPE_BOOLEAN; }

static inline const char *edr_yr_rule_identifier(const YR_RULE *rule) { return rule->identifier; }
static inline const char *edr_yr_rule_namespace(const YR_RULE *rule) {
    return rule->ns != NULL ? rule->ns->name : NULL;
}
/// Tags are stored back to back, each NUL-terminated, the list ending with an empty string.
static inline const char *edr_yr_rule_tags(const YR_RULE *rule) { return rule->tags; }
/// First meta of a rule, or NULL when the rule has none.
static inline const YR_META *edr_yr_rule_first_meta(const YR_RULE *rule) { return rule->metas; }
/// Next meta after `meta`, or NULL when `meta` is the rule's last.
static inline const YR_META *edr_yr_meta_next(const YR_META *meta) {
    return META_IS_LAST_IN_RULE(meta) ? NULL : meta + 1;
}
static inline const char *edr_yr_meta_identifier(const YR_META *meta) { return meta->identifier; }
static inline const char *edr_yr_meta_string(const YR_META *meta) { return meta->string; }
static inline int64_t edr_yr_meta_integer(const YR_META *meta) { return meta->integer; }
static inline int32_t edr_yr_meta_type(const YR_META *meta) { return meta->type; }

/// Adds a rule file by path. The path is opened here, in the compiling process, never by
/// the scanner; `file_name` is what error messages and `include` resolution use.
/// Returns the number of errors, or -1 when the file can't be opened.
static inline int edr_yr_compiler_add_path(YR_COMPILER *compiler, const char *path, const char *ns) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    int errors = yr_compiler_add_file(compiler, f, ns, path);
    fclose(f);
    return errors;
}

#endif
