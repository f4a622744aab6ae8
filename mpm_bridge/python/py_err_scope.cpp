#include "python/py_err_scope.h"

namespace pympm {

PyErrScope::PyErrScope() noexcept {
    PYMPM_ASSERT_GIL();
#if PY_VERSION_HEX >= 0x030C0000
    exc_ = PyRef::steal(PyErr_GetRaisedException());
#else
    PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) return;
    PyErr_NormalizeException(&type, &value, &tb);
    // As 3.12 keeps it: the traceback on the exception itself.
    if (value && tb) PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    exc_ = PyRef::steal(value);
#endif
}

PyErrScope::~PyErrScope() {
    if (exc_) raise(std::move(exc_));
}

std::string PyErrScope::message(const char* unprintable) const {
    if (!exc_) return unprintable;
    PyRef text = PyRef::steal(PyObject_Str(exc_.get()));
    const char* s = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
    if (!s) {
        // Not our exception: the one held stays the one reported.
        PyErr_Clear();
        return unprintable;
    }
    return s;
}

void PyErrScope::raise(PyRef exc) {
    PYMPM_ASSERT_GIL();
    if (!exc) return;
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc.release());
#else
    // PyErr_Restore takes the three references.
    PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(exc.get()));
    Py_INCREF(type);
    PyObject* tb = PyException_GetTraceback(exc.get()); // new reference or null
    PyErr_Restore(type, exc.release(), tb);
#endif
}

} // namespace pympm
