// Shared argument checks and threading helpers of the bindings (bind.hpp).
#include <algorithm>

#include "bind.hpp"

namespace halkit {
namespace bind {

void type_err(const std::string& s) { throw py::type_error(s); }
void value_err(const std::string& s) { throw py::value_error(s); }

const char* dt_name(DT dt) { return dt == F32 ? "float32" : dt == F64 ? "float64" : "bfloat16"; }

py::dtype bf16_dtype() {
    static py::handle dt = py::dtype::from_args(py::module_::import("ml_dtypes").attr("bfloat16")).release();
    return py::reinterpret_borrow<py::dtype>(dt);  // kept for the process
}

namespace {
constexpr int kNpyUserDef = 256;  // NumPy's NPY_USERDEF: type numbers from here on are registered by other packages

py::detail::PyArray_Proxy* proxy(const py::array& a) { return py::detail::array_proxy(a.ptr()); }

DT dtype_of(const py::array& a, const char* fn, const char* name, bool bf16_ok) {
    auto* d = py::detail::array_descriptor_proxy(proxy(a)->descr);
    const int num = d->type_num;
    if (num == py::detail::npy_api::NPY_FLOAT_ || num == py::detail::npy_api::NPY_DOUBLE_) {
        if (d->byteorder == '>')
            type_err(std::string(fn) + ": " + name + " has non-native byte order; use float32/float64 in native order");
        return num == py::detail::npy_api::NPY_FLOAT_ ? F32 : F64;
    }
    // a user-defined 2-byte type is the only way bfloat16 can arrive: only then is ml_dtypes asked
    if (bf16_ok && num >= kNpyUserDef && a.itemsize() == 2 && a.dtype().equal(bf16_dtype()))
        return BF16;
    type_err(std::string(fn) + ": " + name + " must be float32 or float64" + (bf16_ok ? " (or bfloat16)" : "") +
             ", got " + std::string(py::str(a.dtype())));
}

Arr array_arg(const py::handle& o, const char* fn, const char* name, bool bf16_ok);
}  // namespace

std::vector<long> Arr::shape() const { return std::vector<long>(a.shape(), a.shape() + a.ndim()); }

Arr float_arg(const py::handle& o, const char* fn, const char* name) { return array_arg(o, fn, name, false); }
Arr gemm_arg(const py::handle& o, const char* fn, const char* name) { return array_arg(o, fn, name, true); }

namespace {
Arr array_arg(const py::handle& o, const char* fn, const char* name, bool bf16_ok) {
    if (!py::isinstance<py::array>(o))
        type_err(std::string(fn) + ": " + name + " must be a numpy.ndarray, got " +
                 std::string(py::str(py::type::handle_of(o).attr("__name__"))));
    // np.matrix and masked arrays mean something else by the same data (matrix
    // products for *, hidden elements): refuse them rather than ignore that.  A
    // plain ndarray (the common case) is neither: two isinstance calls saved.
    static py::handle ndarray = py::module_::import("numpy").attr("ndarray").cast<py::object>().release();
    static py::handle matrix = py::module_::import("numpy").attr("matrix").cast<py::object>().release();  // kept for the process
    static py::handle masked = py::module_::import("numpy.ma").attr("MaskedArray").cast<py::object>().release();
    if (Py_TYPE(o.ptr()) != (PyTypeObject*)ndarray.ptr() && (py::isinstance(o, matrix) || py::isinstance(o, masked)))
        type_err(std::string(fn) + ": " + name + " is a " +
                 std::string(py::str(py::type::handle_of(o).attr("__name__"))) +
                 ": pass a plain numpy.ndarray (np.asarray, and fill masked values first)");
    Arr r;
    r.given = true;
    r.a = py::reinterpret_borrow<py::array>(o);
    r.dt = dtype_of(r.a, fn, name, bf16_ok);
    const int flags = proxy(r.a)->flags;
    if (!(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
        value_err(std::string(fn) + ": " + name + " must be C-contiguous (use np.ascontiguousarray)");
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        r.a = py::reinterpret_steal<py::array>(r.a.attr("copy")().release());  // aligned, C order
    return r;
}
}  // namespace

Arr optional_arg(const py::handle& o, const char* fn, const char* name) {
    if (o.is_none()) return Arr{};
    return float_arg(o, fn, name);
}

void same_dtype(const Arr& a, const Arr& b, const char* fn, const char* na, const char* nb) {
    if (a.dt != b.dt)
        type_err(std::string(fn) + ": " + na + " and " + nb + " must have the same dtype (got " + dt_name(a.dt) +
                 " and " + dt_name(b.dt) + ")");
}

std::string shape_str(const std::vector<long>& s) {
    std::string r = "(";
    for (size_t i = 0; i < s.size(); ++i) r += std::to_string(s[i]) + (s.size() == 1 || i + 1 < s.size() ? "," : "");
    return r + ")";
}
std::string shape_str(const py::array& a) { return shape_str(std::vector<long>(a.shape(), a.shape() + a.ndim())); }

void same_shape(const Arr& a, const Arr& b, const char* fn, const char* na, const char* nb) {
    if (a.shape() != b.shape())
        value_err(std::string(fn) + ": " + na + " and " + nb + " must have the same shape, got " + shape_str(a.a) +
                  " and " + shape_str(b.a));
}

void check_vector(const Arr& v, long n, const Arr& x, const char* fn, const char* name, const char* what) {
    if (!present(v)) return;
    same_dtype(x, v, fn, "x", name);
    if (v.ndim() != 1 || v.dim(0) != n)
        value_err(std::string(fn) + ": " + name + " must be 1-D of length " + std::to_string(n) + " (" + what +
                  "), got shape " + shape_str(v.a));
}

namespace {
bool is_int(const py::handle& h) {
    static py::handle np_integer = py::module_::import("numpy").attr("integer").cast<py::object>().release();
    return (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) || py::isinstance(h, np_integer);
}
// the value of an int-like h when it lies in [minimum, 2^40], else false
bool int_value(const py::handle& h, long minimum, long& out) {
    if (!is_int(h)) return false;
    int overflow = 0;
    py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Long(h.ptr()));
    const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
    if (overflow || v < minimum || v > (1LL << 40)) return false;
    out = long(v);
    return true;
}
}  // namespace

long int_arg(const py::handle& o, const char* fn, const char* name, long minimum) {
    long v;
    if (!int_value(o, minimum, v))
        value_err(std::string(fn) + ": " + name + " must be an int >= " + std::to_string(minimum) + ", got " +
                  std::string(py::repr(o)));
    return v;
}

void int_pair(const py::handle& o, const char* fn, const char* name, long minimum, long out[2]) {
    bool ok;
    if (py::isinstance<py::sequence>(o) && !py::isinstance<py::str>(o)) {
        py::sequence s = py::reinterpret_borrow<py::sequence>(o);
        ok = s.size() == 2 && int_value(s[0], minimum, out[0]) && int_value(s[1], minimum, out[1]);
    } else {
        ok = int_value(o, minimum, out[0]);
        out[1] = out[0];
    }
    if (!ok)
        value_err(std::string(fn) + ": " + name + " must be an int >= " + std::to_string(minimum) +
                  " or a pair of them, got " + std::string(py::repr(o)));
}

// ------------------------------------------------------------------ threading
namespace {
void pool_run(long n, void (*fn)(void*, long), void* arg) {
    if (!pool().run(n, fn, arg)) throw std::bad_alloc();
}
}  // namespace

Parallel parallel() { return Parallel{pool_threads(), &pool_run}; }

long chunks_for(double work, double threshold, long items, long min_items) {
    const int nt = pool_threads();
    if (nt <= 1 || work < threshold) return items > 0 ? 1 : 0;
    const long by_size = items / std::max<long>(min_items, 1);
    if (by_size < 2) return 1;
    return std::min<long>(by_size, 4L * nt);
}

void split(long n, long t, long nt, long align, long& lo, long& hi) {
    const long units = (n + align - 1) / align;
    lo = std::min(n, units * t / nt * align);
    hi = std::min(n, units * (t + 1) / nt * align);
}

}  // namespace bind
}  // namespace halkit
