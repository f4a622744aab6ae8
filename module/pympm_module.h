// The one declaration of the module struct, shared by every file of the
// glue. With -fvisibility=hidden it is the only symbol mod_pympm.so exports.
#pragma once

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

extern "C" {
extern __attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA pympm_module;
}

// What APLOG_USE_MODULE(pympm) would declare, without redeclaring the module
// struct: lets APLOG_MARK tag our log lines "[pympm:level]".
[[maybe_unused]] static int* const aplog_module_index = &(pympm_module.module_index);
