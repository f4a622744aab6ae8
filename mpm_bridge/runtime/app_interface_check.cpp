#include "runtime/app_interface_check.h"

#include "base/log.h"
#include "python/gil.h"

namespace pympm {

std::string asgi_app_mounted_as_wsgi(const PympmModule& py, PyObject* app) {
    PYMPM_ASSERT_GIL();
    PyRef check = PyRef::steal(PyObject_GetAttrString(py.module.get(), "_wsgi_mount_problem"));
    PyRef r = check ? PyRef::steal(PyObject_CallFunctionObjArgs(check.get(), app, nullptr)) : PyRef();
    std::string problem;
    if (r && PyUnicode_Check(r.get()))
        if (const char* text = PyUnicode_AsUTF8(r.get())) problem = text;
    PyErr_Clear();
    return problem;
}

std::string wsgi_mount_error(const std::string& mount, const std::string& location, const std::string& callable,
                             const std::string& problem) {
    return std::string(PYMPM_APLOGNO(00412)) + "app " + mount + "=" + location + ":" + callable +
           " is mounted as WSGI, but " + problem + ": add asgi to its PyApp line (PyApp " + mount + " " + location +
           ":" + callable + " asgi); its requests get 500 until then";
}

} // namespace pympm
