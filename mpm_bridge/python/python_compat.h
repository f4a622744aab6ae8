// The CPython 3.10 API this module uses, for 3.9 (docs/python-versions.md):
// the same names, so that the code reads as on a current Python. Nothing
// here is compiled on 3.10 and later.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000

inline PyObject* Py_NewRef(PyObject* o) {
    Py_INCREF(o);
    return o;
}

inline PyObject* Py_XNewRef(PyObject* o) {
    Py_XINCREF(o);
    return o;
}

// disallow_instantiation() below does its work.
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0

enum PySendResult { PYGEN_RETURN = 0, PYGEN_ERROR = -1, PYGEN_NEXT = 1 };

// As 3.10's: one step of an iterator (next() for None, else send()), its
// return value taken out of StopIteration.
inline PySendResult PyIter_Send(PyObject* iter, PyObject* arg, PyObject** presult) {
    *presult = nullptr;
    PyObject* r = nullptr;
    if (arg == Py_None && PyIter_Check(iter)) {
        r = Py_TYPE(iter)->tp_iternext(iter);
    } else {
        PyObject* name = PyUnicode_InternFromString("send");
        r = name ? PyObject_CallMethodOneArg(iter, name, arg) : nullptr;
        Py_XDECREF(name);
    }
    if (r) {
        *presult = r;
        return PYGEN_NEXT;
    }
    if (!PyErr_Occurred()) {
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return PYGEN_ERROR;
    PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject* returned = value ? PyObject_GetAttrString(value, "value") : Py_NewRef(Py_None);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (!returned) return PYGEN_ERROR;
    *presult = returned;
    return PYGEN_RETURN;
}

#endif

namespace pympm {

// A type made from a spec with Py_TPFLAGS_DISALLOW_INSTANTIATION: on 3.9,
// which has no such flag, its tp_new (object's, inherited) is cleared, so
// that calling the type raises TypeError as the flag makes it do.
inline PyObject* disallow_instantiation(PyObject* type) {
#if PY_VERSION_HEX < 0x030A0000
    if (type) reinterpret_cast<PyTypeObject*>(type)->tp_new = nullptr;
#endif
    return type;
}

} // namespace pympm
