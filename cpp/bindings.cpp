// Python bindings of fast_lstm: the only code that knows Python exists.
//
// Every argument is checked here, once, before any work: type, dtype (float32 or
// float64, native byte order, one dtype for all), rank, shape agreement, sizes.
// Errors name the argument. Arrays that are not C-contiguous and aligned are
// copied to ones that are (never converted to another dtype). The kernels run
// with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>  // sysconf: the machine's memory

#include "kernels/kernel_table.hpp"
#include "ops/gru.hpp"
#include "ops/lstm.hpp"
#include "runtime/aligned_buffer.hpp"
#include "runtime/buffer_pool.hpp"
#include "runtime/cpu_features.hpp"
#include "runtime/thread_pool.hpp"

namespace py = pybind11;
using namespace fast_lstm;

namespace {

enum class DType { f32, f64 };

const char* dtype_name(DType dtype) { return dtype == DType::f32 ? "float32" : "float64"; }

std::string shape_string(const py::array& a) {
    std::ostringstream out;
    out << "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) out << (i ? ", " : "") << a.shape(i);
    out << (a.ndim() == 1 ? ",)" : ")");
    return out.str();
}

std::string type_name(const py::handle& obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

// obj must be a numpy array of float32 or float64 (native byte order).
py::array require_float_array(const py::handle& obj, const char* name) {
    if (obj.is_none()) throw py::type_error(std::string(name) + " must be a numpy.ndarray, got None");
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray, got " + type_name(obj));
    py::array array = py::reinterpret_borrow<py::array>(obj);
    const py::dtype dtype = array.dtype();
    // equal() is numpy's equivalence, which also tells byte orders apart.
    if (!dtype.equal(py::dtype::of<float>()) && !dtype.equal(py::dtype::of<double>()))
        throw py::type_error(std::string(name) + " must have dtype float32 or float64, got " +
                             std::string(py::str(dtype)));
    return array;
}

DType dtype_of(const py::array& array) { return array.dtype().equal(py::dtype::of<float>()) ? DType::f32 : DType::f64; }

// `source` names where the expected dtype comes from ("x", "the forward pass").
void require_same_dtype(const py::array& array, DType expected, const char* name, const char* source) {
    if (dtype_of(array) != expected)
        throw py::type_error(std::string(name) + " has dtype " + dtype_name(dtype_of(array)) + " but " + source +
                             " has " + dtype_name(expected) + "; all arrays must share one dtype");
}

void require_shape(const py::array& array, const std::vector<int64_t>& shape, const char* name,
                   const char* symbolic) {
    bool ok = array.ndim() == static_cast<py::ssize_t>(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = array.shape(i) == shape[i];
    if (ok) return;
    std::ostringstream expected;
    expected << "(";
    for (size_t i = 0; i < shape.size(); ++i) expected << (i ? ", " : "") << shape[i];
    expected << (shape.size() == 1 ? ",)" : ")");
    throw py::value_error(std::string(name) + " must have shape " + symbolic + " = " + expected.str() + ", got " +
                          shape_string(array));
}

// Bytes of physical memory, or 0 where the system does not say.
double physical_memory_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page_size > 0) return double(pages) * double(page_size);
#endif
    return 0;
}

// A C-contiguous, aligned view of `array` (the argument `name`) or a copy with the same dtype. A
// broadcast view passes the size checks holding a few bytes, and its copy may not fit: a copy
// larger than the machine's memory is refused by name before numpy tries (where the kernel
// overcommits memory, numpy would start writing terabytes), and numpy's MemoryError gets the name.
py::array contiguous(const py::array& array, const char* name) {
    const int flags = py::detail::array_proxy(array.ptr())->flags;
    const int needed = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
    if ((flags & needed) == needed) return array;
    const double bytes = double(array.nbytes()), memory = physical_memory_bytes();  // nbytes: the shape's
    if (memory == 0 || bytes <= memory) {
        try {
            return py::module_::import("numpy").attr("require")(array, py::none(), "CA");
        } catch (py::error_already_set& e) {
            if (!e.matches(PyExc_MemoryError)) throw;
        }
    }
    std::ostringstream message;
    message << name << " " << shape_string(array) << " needs a C-contiguous, aligned copy of " << std::fixed
            << std::setprecision(1) << bytes / double(1 << 30) << " GiB, which does not fit in memory";
    PyErr_SetString(PyExc_MemoryError, message.str().c_str());
    throw py::error_already_set();
}

// Element counts the drivers will allocate, checked in 64 bits before anything is allocated
// or copied.
void require_reasonable_size(const LstmDims& d) {
    constexpr int64_t limit = int64_t(1) << 40;  // elements of one buffer; far beyond any machine's memory
    int64_t hidden4, rows, activations, weights;
    bool overflow = __builtin_add_overflow(d.hidden, 64, &hidden4) || __builtin_mul_overflow(hidden4, 4, &hidden4);
    overflow = overflow || __builtin_add_overflow(d.steps, 1, &rows) || __builtin_mul_overflow(rows, d.batch, &rows) ||
               __builtin_mul_overflow(rows, std::max(hidden4, d.input), &activations) ||
               __builtin_mul_overflow(hidden4, std::max(d.hidden, d.input), &weights);
    if (overflow || activations > limit || weights > limit)
        throw py::value_error("sizes too large: T=" + std::to_string(d.steps) + ", B=" + std::to_string(d.batch) +
                              ", D=" + std::to_string(d.input) + ", H=" + std::to_string(d.hidden) +
                              " exceed the addressable buffer size");
}

// Whether the bytes of two arrays overlap.
bool overlaps(const py::array& a, const py::array& b) {
    const char* a_begin = static_cast<const char*>(a.data());
    const char* b_begin = static_cast<const char*>(b.data());
    return a_begin < b_begin + b.nbytes() && b_begin < a_begin + a.nbytes();
}

template <typename T>
T* data_of(py::array& a) {
    return static_cast<T*>(a.mutable_data());
}
// An optional result's data: None (not computed) gives null.
template <typename T>
T* mutable_data_or_null(const py::object& a) {
    if (a.is_none()) return nullptr;
    py::array array = py::reinterpret_borrow<py::array>(a);
    return data_of<T>(array);
}
template <typename T>
const T* data_or_null(const py::object& a) {
    return a.is_none() ? nullptr : static_cast<const T*>(py::reinterpret_borrow<py::array>(a).data());
}

// Optional (B, H)-like array: None, or a checked contiguous array.
py::object optional_array(const py::object& obj, DType dtype, const char* dtype_source,
                          const std::vector<int64_t>& shape, const char* name, const char* symbolic) {
    if (obj.is_none()) return py::none();
    py::array array = require_float_array(obj, name);
    require_same_dtype(array, dtype, name, dtype_source);
    require_shape(array, shape, name, symbolic);
    return contiguous(array, name);
}

int64_t checked_dim(int64_t value, const char* name, const char* dim, const py::array& array) {
    if (value < 1)
        throw py::value_error(std::string(name) + " has " + dim + " = 0 (shape " + shape_string(array) +
                              "); empty sequences and batches are not supported");
    return value;
}

// lengths: None, or integers (B,) each in [0, T] (any integer dtype, or a list of ints).
std::vector<int64_t> optional_lengths(const py::object& obj, const LstmDims& d) {
    if (obj.is_none()) return {};
    py::object numpy = py::module_::import("numpy");
    py::array array = numpy.attr("asarray")(obj);
    const char kind = array.dtype().kind();
    if (kind != 'i' && kind != 'u')
        throw py::type_error("lengths must be integers, got dtype " + std::string(py::str(array.dtype())));
    require_shape(array, {d.batch}, "lengths", "(B,)");
    py::array_t<int64_t, py::array::c_style | py::array::forcecast> values(array);
    std::vector<int64_t> lengths(values.data(), values.data() + d.batch);
    for (int64_t j = 0; j < d.batch; ++j) {
        // A uint64 past INT64_MAX arrives negative: the same message covers it.
        if (lengths[j] < 0 || lengths[j] > d.steps)
            throw py::value_error("lengths[" + std::to_string(j) + "] = " + std::string(py::str(array[py::int_(j)])) +
                                  " is outside [0, T] = [0, " + std::to_string(d.steps) + "]");
    }
    return lengths;
}

// A bool option: Python's bool or numpy's, nothing else. pybind11's bool would take None (as
// False) and any int, so forget_gate=None silently chose the 1997 cell.
bool parse_flag(const py::object& obj, const char* name) {
    if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
    const std::string type = py::str(py::type::handle_of(obj).attr("__module__")).cast<std::string>() + "." +
                             py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
    if (type == "numpy.bool" || type == "numpy.bool_") return py::bool_(obj).cast<bool>();
    throw py::type_error(std::string(name) + " must be a bool, got " + type_name(obj));
}

// cell_activation: 'tanh' or 'identity'; returns whether it is the identity.
bool parse_cell_activation(const py::object& obj) {
    if (!py::isinstance<py::str>(obj))
        throw py::type_error("cell_activation must be 'tanh' or 'identity', got " + type_name(obj));
    const std::string name = obj.cast<std::string>();
    if (name != "tanh" && name != "identity")
        throw py::value_error("cell_activation must be 'tanh' or 'identity', got '" + name + "'");
    return name == "identity";
}

// The cell variant chosen by lstm_forward's options (LstmCellOptions without the arrays).
struct CellChoice {
    int gates;
    bool coupled_forget, identity_output;
    int64_t projection;  // P, or 0
    bool cell_recurrence;
};

// recurrence: 'hidden' (the gates read h_{t-1}) or 'cell' (they read c_{t-1}); returns whether 'cell'.
bool parse_recurrence(const py::object& obj) {
    if (!py::isinstance<py::str>(obj))
        throw py::type_error("recurrence must be 'hidden' or 'cell', got " + type_name(obj));
    const std::string name = obj.cast<std::string>();
    if (name != "hidden" && name != "cell")
        throw py::value_error("recurrence must be 'hidden' or 'cell', got '" + name + "'");
    return name == "cell";
}

// What a training forward pass hands to its backward: the record of one dtype.
template <template <typename> class Record>
class TrainingCache {
  public:
    DType dtype;
    LstmDims dims;
    std::unique_ptr<Record<float>> f32;
    std::unique_ptr<Record<double>> f64;

    // A cache for dtype T, with `*record` set to its (empty) record.
    template <typename T>
    static std::unique_ptr<TrainingCache> make(const LstmDims& d, Record<T>** record) {
        auto cache = std::make_unique<TrainingCache>();
        cache->dtype = std::is_same<T, float>::value ? DType::f32 : DType::f64;
        cache->dims = d;
        auto owned = std::make_unique<Record<T>>();
        *record = owned.get();
        if constexpr (std::is_same<T, float>::value) cache->f32 = std::move(owned);
        else cache->f64 = std::move(owned);
        return cache;
    }
};
using LstmCache = TrainingCache<LstmTrainingRecord>;
using GruCache = TrainingCache<GruTrainingRecord>;

// obj must be a cache of type Cache, made by `producer` with training=True.
// The C++ object of a bound instance. One made by Type.__new__(Type) alone (no __init__, or a
// cache type, which Python cannot construct) has none: its memory is whatever the allocator
// gave, and reading it crashed.
template <typename Bound>
Bound& initialised(const py::handle& obj, const char* how) {
    auto* instance = reinterpret_cast<py::detail::instance*>(obj.ptr());
    if (!py::detail::values_and_holders(instance).begin()->holder_constructed())
        throw py::type_error(type_name(obj) + " is not initialised: " + how);
    return obj.cast<Bound&>();
}

template <typename Cache>
const Cache& require_cache(const py::object& obj, const char* cache_name, const char* producer) {
    if (obj.is_none() || !py::isinstance<Cache>(obj))
        throw py::type_error(std::string("cache must be the ") + cache_name + " returned by " + producer +
                             "(..., training=True), got " + (obj.is_none() ? std::string("None") : type_name(obj)));
    return initialised<const Cache>(obj, (std::string("only ") + producer + "(..., training=True) makes one").c_str());
}

// A result array. Large ones live in a block of the buffer cache, given back when numpy frees
// the array: a fresh allocation would fault in and clear every page on every call (about 3% of
// a training step at the large shape), and a training loop asks for the same sizes each step.
template <typename T>
py::array new_array(const std::vector<int64_t>& shape) {
    const std::vector<py::ssize_t> dims(shape.begin(), shape.end());
    size_t bytes = sizeof(T);
    for (const int64_t n : shape)
        if (n < 0 || __builtin_mul_overflow(bytes, static_cast<size_t>(n), &bytes)) return py::array_t<T>(dims);
    if (bytes < AlignedBuffer<T>::pooled_minimum_bytes) return py::array_t<T>(dims);
    auto owner = std::make_unique<AlignedBuffer<T>>(static_cast<int64_t>(bytes / sizeof(T)));
    T* data = owner->data();
    py::capsule base(owner.get(), [](void* block) { delete static_cast<AlignedBuffer<T>*>(block); });
    owner.release();  // the capsule owns it now
    return py::array_t<T>(dims, data, base);
}

template <typename T>
py::tuple forward_typed(const py::array& x, const py::array& w_ih, const py::array& w_hh, const py::array& b,
                        const py::object& h0, const py::object& c0, const LstmDims& d, bool training,
                        const std::vector<int64_t>& lengths, const py::object& recurrent_mask,
                        const py::object& peephole, const py::object& w_hr, const CellChoice& choice) {
    const int64_t R = choice.projection ? choice.projection : d.hidden;  // features of h
    py::array y = new_array<T>({d.steps, d.batch, R});
    py::array h_n = new_array<T>({d.batch, R});
    py::array c_n = new_array<T>({d.batch, d.hidden});
    LstmTrainingRecord<T>* record = nullptr;
    std::unique_ptr<LstmCache> cache = training ? LstmCache::make<T>(d, &record) : nullptr;
    const Kernels<T>& kernels = kernels_for<T>(active_isa());
    const int threads = ThreadPool::instance().num_threads();
    const T *px = static_cast<const T*>(x.data()), *pw_ih = static_cast<const T*>(w_ih.data());
    const T *pw_hh = static_cast<const T*>(w_hh.data()), *pb = static_cast<const T*>(b.data());
    const T *ph0 = data_or_null<T>(h0), *pc0 = data_or_null<T>(c0);
    T *py_ = data_of<T>(y), *ph_n = data_of<T>(h_n), *pc_n = data_of<T>(c_n);
    LstmSequenceOptions<T> options;
    options.lengths = lengths.empty() ? nullptr : lengths.data();
    options.recurrent_mask = data_or_null<T>(recurrent_mask);
    LstmCellOptions<T> cell;
    cell.gates = choice.gates;
    cell.coupled_forget = choice.coupled_forget;
    cell.peephole = data_or_null<T>(peephole);
    cell.identity_output = choice.identity_output;
    cell.projection = choice.projection;
    cell.w_hr = data_or_null<T>(w_hr);
    cell.cell_recurrence = choice.cell_recurrence;
    {
        py::gil_scoped_release release;
        lstm_forward<T>(kernels, threads, d, cell, options, px, pw_ih, pw_hh, pb, ph0, pc0, py_, ph_n, pc_n, record);
    }
    py::object cache_object = cache ? py::cast(std::move(cache)) : py::object(py::none());
    return py::make_tuple(y, h_n, c_n, cache_object);
}

// w_ih (NG*H, D), w_hh (NG*H, H), b (NG*H,), all of dtype `dtype` (named after `dtype_source`);
// sizes checked before the (possibly copied) contiguous arrays are made. `cell_note` says
// which cell has NG gates when that is not obvious; `bias_name` names b.
struct CheckedWeights {
    py::array w_ih, w_hh, b;
    int64_t input, hidden;
};

CheckedWeights check_weights(const py::object& w_ih_obj, const py::object& w_hh_obj, const py::object& b_obj,
                             DType dtype, const char* dtype_source, int gates = 4, const std::string& cell_note = "",
                             const char* bias_name = "b", int64_t projection = 0) {
    CheckedWeights w{require_float_array(w_ih_obj, "w_ih"), require_float_array(w_hh_obj, "w_hh"),
                     require_float_array(b_obj, bias_name), 0, 0};
    require_same_dtype(w.w_ih, dtype, "w_ih", dtype_source);
    require_same_dtype(w.w_hh, dtype, "w_hh", dtype_source);
    require_same_dtype(w.b, dtype, bias_name, dtype_source);
    const std::string g = std::to_string(gates);
    if (w.w_ih.ndim() != 2 || w.w_ih.shape(0) % gates != 0 || w.w_ih.shape(0) == 0 || w.w_ih.shape(1) == 0)
        throw py::value_error("w_ih must have shape (" + g + "*H, D)" + cell_note + " with H, D >= 1, got " +
                              shape_string(w.w_ih));
    w.hidden = w.w_ih.shape(0) / gates;
    w.input = w.w_ih.shape(1);
    if (projection)
        require_shape(w.w_hh, {gates * w.hidden, projection}, "w_hh",
                      ("(" + g + "*H, P)" + cell_note + " with H from w_ih and P from w_hr").c_str());
    else
        require_shape(w.w_hh, {gates * w.hidden, w.hidden}, "w_hh",
                      ("(" + g + "*H, H)" + cell_note + " with H from w_ih").c_str());
    require_shape(w.b, {gates * w.hidden}, bias_name, ("(" + g + "*H,)" + cell_note).c_str());
    require_reasonable_size(LstmDims{1, 1, w.input, w.hidden});
    w.w_ih = contiguous(w.w_ih, "w_ih");
    w.w_hh = contiguous(w.w_hh, "w_hh");
    w.b = contiguous(w.b, bias_name);
    return w;
}

// (T, B, D, H) of x (T, B, D) against checked weights with `gates` gates.
LstmDims sequence_dims(const py::array& x, const CheckedWeights& w, int gates) {
    if (x.ndim() != 3) throw py::value_error("x must have shape (T, B, D) (time-major), got " + shape_string(x));
    LstmDims d{};
    d.steps = checked_dim(x.shape(0), "x", "T", x);
    d.batch = checked_dim(x.shape(1), "x", "B", x);
    d.input = checked_dim(x.shape(2), "x", "D", x);
    d.hidden = w.hidden;
    if (w.input != d.input)
        throw py::value_error("w_ih must have shape (" + std::to_string(gates) + "*H, D) with D = x.shape[2] = " +
                              std::to_string(d.input) + ", got " + shape_string(w.w_ih));
    require_reasonable_size(d);
    return d;
}

// The gate count of the cell that forget_gate / couple_input_forget ask for.
int cell_gates(bool forget_gate, bool couple_input_forget, bool has_peephole) {
    if (couple_input_forget && !forget_gate)
        throw py::value_error("couple_input_forget=True needs forget_gate=True: it ties the forget gate to the "
                              "input gate (f = 1 - i), and forget_gate=False removes it");
    const int gates = forget_gate && !couple_input_forget ? 4 : 3;
    if (gates == 3 && has_peephole)
        throw py::value_error("peephole is only supported with a forget gate of its own "
                              "(forget_gate=True, couple_input_forget=False)");
    return gates;
}

py::tuple lstm_forward_binding(const py::object& x_obj, const py::object& w_ih_obj, const py::object& w_hh_obj,
                               const py::object& b_obj, const py::object& h0_obj, const py::object& c0_obj,
                               const py::object& training_obj, const py::object& lengths_obj,
                               const py::object& mask_obj, const py::object& peephole_obj,
                               const py::object& activation_obj, const py::object& forget_gate_obj,
                               const py::object& couple_input_forget_obj, const py::object& w_hr_obj,
                               const py::object& recurrence_obj) {
    py::array x = require_float_array(x_obj, "x");
    const bool training = parse_flag(training_obj, "training");
    const bool forget_gate = parse_flag(forget_gate_obj, "forget_gate");
    const bool couple_input_forget = parse_flag(couple_input_forget_obj, "couple_input_forget");
    const bool cell_recurrence = parse_recurrence(recurrence_obj);
    if (cell_recurrence && !w_hr_obj.is_none())
        throw py::value_error("w_hr (a projection of h) does not combine with recurrence='cell': h does not recur");
    if (cell_recurrence && !mask_obj.is_none())
        throw py::value_error("recurrent_mask (dropout of h_{t-1} in the recurrence) does not combine with "
                              "recurrence='cell', whose recurrence reads c_{t-1}");
    const DType dtype = dtype_of(x);
    const int gates = cell_gates(forget_gate, couple_input_forget, !peephole_obj.is_none());
    const std::string note = gates == 4 ? "" : " (gates i, g, o: forget_gate=False or couple_input_forget=True)";
    // With a projection w_hr (P, H), h has P features: w_hh is (NG*H, P), h0 and the mask (B, P).
    int64_t P = 0;
    if (!w_hr_obj.is_none()) {
        const py::array w_hr = require_float_array(w_hr_obj, "w_hr");
        if (w_hr.ndim() != 2 || w_hr.shape(0) == 0)
            throw py::value_error("w_hr must have shape (P, H) with P >= 1, got " + shape_string(w_hr));
        P = w_hr.shape(0);
    }
    CheckedWeights w = check_weights(w_ih_obj, w_hh_obj, b_obj, dtype, "x", gates, note, "b", P);
    const LstmDims d = sequence_dims(x, w, gates);
    const int64_t R = P ? P : d.hidden;
    const char* h_shape = P ? "(B, P)" : "(B, H)";
    py::object w_hr = optional_array(w_hr_obj, dtype, "x", {P, d.hidden}, "w_hr", "(P, H) with H from w_ih");
    py::object h0 = optional_array(h0_obj, dtype, "x", {d.batch, R}, "h0", h_shape);
    py::object c0 = optional_array(c0_obj, dtype, "x", {d.batch, d.hidden}, "c0", "(B, H)");
    const std::vector<int64_t> lengths = optional_lengths(lengths_obj, d);
    py::object mask = optional_array(mask_obj, dtype, "x", {d.batch, R}, "recurrent_mask", h_shape);
    py::object peephole = optional_array(peephole_obj, dtype, "x", {3, d.hidden}, "peephole", "(3, H)");
    const bool identity_output = parse_cell_activation(activation_obj);
    x = contiguous(x, "x");
    const CellChoice cell{gates, couple_input_forget, identity_output, P, cell_recurrence};
    if (dtype == DType::f32)
        return forward_typed<float>(x, w.w_ih, w.w_hh, w.b, h0, c0, d, training, lengths, mask, peephole, w_hr, cell);
    return forward_typed<double>(x, w.w_ih, w.w_hh, w.b, h0, c0, d, training, lengths, mask, peephole, w_hr, cell);
}

template <typename T>
py::tuple backward_typed(const LstmTrainingRecord<T>& record, const py::object& dy, const py::object& dh_n,
                         const py::object& dc_n, bool input_grad) {
    const LstmDims& d = record.dims;
    const int64_t P = record.projection, R = P ? P : d.hidden;
    py::object dx = input_grad ? py::object(new_array<T>({d.steps, d.batch, d.input})) : py::none();
    const int64_t rows = record.gates * d.hidden;
    py::array dw_ih = new_array<T>({rows, d.input});
    py::array dw_hh = new_array<T>({rows, R});
    py::array db = new_array<T>({rows});
    py::array dh0 = new_array<T>({d.batch, R});
    py::array dw_hr = P ? new_array<T>({P, d.hidden}) : py::array();
    py::array dc0 = new_array<T>({d.batch, d.hidden});
    const bool peephole = record.peephole.size() > 0;
    py::array dpeephole = peephole ? new_array<T>({3, d.hidden}) : py::array();
    const T *pdy = data_or_null<T>(dy), *pdh_n = data_or_null<T>(dh_n), *pdc_n = data_or_null<T>(dc_n);
    T* pdx = mutable_data_or_null<T>(dx);
    T *pdw_ih = data_of<T>(dw_ih), *pdw_hh = data_of<T>(dw_hh), *pdb = data_of<T>(db);
    T *pdh0 = data_of<T>(dh0), *pdc0 = data_of<T>(dc0), *pdp = peephole ? data_of<T>(dpeephole) : nullptr;
    const int threads = ThreadPool::instance().num_threads();
    {
        py::gil_scoped_release release;
        lstm_backward<T>(threads, record, pdy, pdh_n, pdc_n, pdx, pdw_ih, pdw_hh, pdb, pdh0, pdc0, pdp,
                         P ? data_of<T>(dw_hr) : nullptr);
    }
    py::list gradients;
    gradients.append(dx);
    for (const py::array& g : {dw_ih, dw_hh, db, dh0, dc0}) gradients.append(g);
    if (peephole) gradients.append(dpeephole);
    if (P) gradients.append(dw_hr);
    return py::tuple(gradients);
}

py::tuple lstm_backward_binding(const py::object& dy_obj, const py::object& dh_n_obj, const py::object& dc_n_obj,
                                const py::object& cache_obj, const py::object& input_grad_obj) {
    const bool input_grad = parse_flag(input_grad_obj, "input_grad");
    const LstmCache& cache = require_cache<LstmCache>(cache_obj, "LstmCache", "lstm_forward");
    const LstmDims& d = cache.dims;
    const int64_t P = cache.dtype == DType::f32 ? cache.f32->projection : cache.f64->projection;
    const int64_t R = P ? P : d.hidden;  // features of h
    py::object dy = optional_array(dy_obj, cache.dtype, "the forward pass", {d.steps, d.batch, R}, "dy",
                                   P ? "(T, B, P)" : "(T, B, H)");
    py::object dh_n = optional_array(dh_n_obj, cache.dtype, "the forward pass", {d.batch, R}, "dh_n",
                                     P ? "(B, P)" : "(B, H)");
    py::object dc_n = optional_array(dc_n_obj, cache.dtype, "the forward pass", {d.batch, d.hidden}, "dc_n", "(B, H)");
    if (cache.dtype == DType::f32) return backward_typed<float>(*cache.f32, dy, dh_n, dc_n, input_grad);
    return backward_typed<double>(*cache.f64, dy, dh_n, dc_n, input_grad);
}

template <typename T>
py::tuple gru_forward_typed(const py::array& x, const CheckedWeights& w, const py::array& b_hh,
                            const py::object& h0, const LstmDims& d, bool training,
                            const std::vector<int64_t>& lengths, const py::object& recurrent_mask) {
    py::array y = new_array<T>({d.steps, d.batch, d.hidden});
    py::array h_n = new_array<T>({d.batch, d.hidden});
    GruTrainingRecord<T>* record = nullptr;
    std::unique_ptr<GruCache> cache = training ? GruCache::make<T>(d, &record) : nullptr;
    const Kernels<T>& kernels = kernels_for<T>(active_isa());
    const int threads = ThreadPool::instance().num_threads();
    const T *px = static_cast<const T*>(x.data()), *pw_ih = static_cast<const T*>(w.w_ih.data());
    const T *pw_hh = static_cast<const T*>(w.w_hh.data()), *pb_ih = static_cast<const T*>(w.b.data());
    const T *pb_hh = static_cast<const T*>(b_hh.data()), *ph0 = data_or_null<T>(h0);
    T *py_ = data_of<T>(y), *ph_n = data_of<T>(h_n);
    LstmSequenceOptions<T> options;
    options.lengths = lengths.empty() ? nullptr : lengths.data();
    options.recurrent_mask = data_or_null<T>(recurrent_mask);
    {
        py::gil_scoped_release release;
        gru_forward<T>(kernels, threads, d, options, px, pw_ih, pw_hh, pb_ih, pb_hh, ph0, py_, ph_n, record);
    }
    py::object cache_object = cache ? py::cast(std::move(cache)) : py::object(py::none());
    return py::make_tuple(y, h_n, cache_object);
}

py::tuple gru_forward_binding(const py::object& x_obj, const py::object& w_ih_obj, const py::object& w_hh_obj,
                              const py::object& b_ih_obj, const py::object& b_hh_obj, const py::object& h0_obj,
                              const py::object& training_obj, const py::object& lengths_obj,
                              const py::object& mask_obj) {
    py::array x = require_float_array(x_obj, "x");
    const bool training = parse_flag(training_obj, "training");
    const DType dtype = dtype_of(x);
    const CheckedWeights w = check_weights(w_ih_obj, w_hh_obj, b_ih_obj, dtype, "x", 3, " (gates r, z, n)", "b_ih");
    py::array b_hh = require_float_array(b_hh_obj, "b_hh");
    require_same_dtype(b_hh, dtype, "b_hh", "x");
    require_shape(b_hh, {3 * w.hidden}, "b_hh", "(3*H,) (gates r, z, n)");
    b_hh = contiguous(b_hh, "b_hh");
    const LstmDims d = sequence_dims(x, w, 3);
    py::object h0 = optional_array(h0_obj, dtype, "x", {d.batch, d.hidden}, "h0", "(B, H)");
    const std::vector<int64_t> lengths = optional_lengths(lengths_obj, d);
    py::object mask = optional_array(mask_obj, dtype, "x", {d.batch, d.hidden}, "recurrent_mask", "(B, H)");
    x = contiguous(x, "x");
    if (dtype == DType::f32) return gru_forward_typed<float>(x, w, b_hh, h0, d, training, lengths, mask);
    return gru_forward_typed<double>(x, w, b_hh, h0, d, training, lengths, mask);
}

template <typename T>
py::tuple gru_backward_typed(const GruTrainingRecord<T>& record, const py::object& dy, const py::object& dh_n,
                             bool input_grad) {
    const LstmDims& d = record.dims;
    py::object dx = input_grad ? py::object(new_array<T>({d.steps, d.batch, d.input})) : py::none();
    py::array dw_ih = new_array<T>({3 * d.hidden, d.input});
    py::array dw_hh = new_array<T>({3 * d.hidden, d.hidden});
    py::array db_ih = new_array<T>({3 * d.hidden});
    py::array db_hh = new_array<T>({3 * d.hidden});
    py::array dh0 = new_array<T>({d.batch, d.hidden});
    const T *pdy = data_or_null<T>(dy), *pdh_n = data_or_null<T>(dh_n);
    T *pdx = mutable_data_or_null<T>(dx), *pdw_ih = data_of<T>(dw_ih), *pdw_hh = data_of<T>(dw_hh);
    T *pdb_ih = data_of<T>(db_ih), *pdb_hh = data_of<T>(db_hh), *pdh0 = data_of<T>(dh0);
    const int threads = ThreadPool::instance().num_threads();
    {
        py::gil_scoped_release release;
        gru_backward<T>(threads, record, pdy, pdh_n, pdx, pdw_ih, pdw_hh, pdb_ih, pdb_hh, pdh0);
    }
    return py::make_tuple(dx, dw_ih, dw_hh, db_ih, db_hh, dh0);
}

py::tuple gru_backward_binding(const py::object& dy_obj, const py::object& dh_n_obj, const py::object& cache_obj,
                               const py::object& input_grad_obj) {
    const bool input_grad = parse_flag(input_grad_obj, "input_grad");
    const GruCache& cache = require_cache<GruCache>(cache_obj, "GruCache", "gru_forward");
    const LstmDims& d = cache.dims;
    py::object dy = optional_array(dy_obj, cache.dtype, "the forward pass", {d.steps, d.batch, d.hidden}, "dy", "(T, B, H)");
    py::object dh_n = optional_array(dh_n_obj, cache.dtype, "the forward pass", {d.batch, d.hidden}, "dh_n", "(B, H)");
    if (cache.dtype == DType::f32) return gru_backward_typed<float>(*cache.f32, dy, dh_n, input_grad);
    return gru_backward_typed<double>(*cache.f64, dy, dh_n, input_grad);
}

// fast_lstm.PackedLSTM: weights packed once for repeated inference calls and single steps.
class PackedLstm {
  public:
    PackedLstm(const py::object& w_ih_obj, const py::object& w_hh_obj, const py::object& b_obj) {
        const py::array w_ih = require_float_array(w_ih_obj, "w_ih");
        dtype_ = dtype_of(w_ih);
        CheckedWeights w = check_weights(w_ih_obj, w_hh_obj, b_obj, dtype_, "w_ih");
        if (dtype_ == DType::f32) pack(w, &f32_);
        else pack(w, &f64_);
    }

    int64_t input() const { return dtype_ == DType::f32 ? f32_.input : f64_.input; }
    int64_t hidden() const { return dtype_ == DType::f32 ? f32_.hidden : f64_.hidden; }
    DType dtype() const { return dtype_; }
    Isa isa() const { return dtype_ == DType::f32 ? f32_.kernels->isa : f64_.kernels->isa; }

    py::tuple step(const py::object& x_obj, const py::object& h_obj, const py::object& c_obj,
                   const py::object& h_out_obj, const py::object& c_out_obj) const {
        const py::array x = require_float_array(x_obj, "x_t");
        require_same_dtype(x, dtype_, "x_t", "the packed weights");
        if (x.ndim() != 2 || x.shape(1) != input())
            throw py::value_error("x_t must have shape (B, D) with D = " + std::to_string(input()) + ", got " +
                                  shape_string(x));
        const int64_t batch = checked_dim(x.shape(0), "x_t", "B", x);
        require_reasonable_size(LstmDims{1, batch, input(), hidden()});
        const std::vector<int64_t> state_shape{batch, hidden()};
        py::array h = require_state(h_obj, "h", state_shape);
        const py::array c = require_state(c_obj, "c", state_shape);
        py::array h_out = output_state(h_out_obj, "h_out", state_shape);
        py::array c_out = output_state(c_out_obj, "c_out", state_shape);
        // c_out is written after the kernel is done with every input, but h_out during it.
        if (overlaps(h_out, c_out)) throw py::value_error("h_out and c_out must not share memory");
        // The kernel reads all of x_t and h while it writes h_out block by block: read copies.
        py::array x_c = contiguous(x, "x_t");
        if (overlaps(h, h_out)) h = py::array(h.attr("copy")());
        if (overlaps(x_c, h_out)) x_c = py::array(x_c.attr("copy")());
        // Consecutive steps walk the weights in opposite directions (see LstmForwardStep).
        const bool reverse = steps_taken_++ % 2 == 1;
        if (dtype_ == DType::f32) run_step(f32_, batch, x_c, h, c, h_out, c_out, reverse);
        else run_step(f64_, batch, x_c, h, c, h_out, c_out, reverse);
        return py::make_tuple(h_out, c_out);
    }

    py::tuple forward(const py::object& x_obj, const py::object& h0_obj, const py::object& c0_obj) const {
        py::array x = require_float_array(x_obj, "x");
        require_same_dtype(x, dtype_, "x", "the packed weights");
        if (x.ndim() != 3 || x.shape(2) != input())
            throw py::value_error("x must have shape (T, B, D) with D = " + std::to_string(input()) + ", got " +
                                  shape_string(x));
        LstmDims d{checked_dim(x.shape(0), "x", "T", x), checked_dim(x.shape(1), "x", "B", x), input(), hidden()};
        require_reasonable_size(d);
        const py::object h0 = optional_array(h0_obj, dtype_, "the packed weights", {d.batch, d.hidden}, "h0", "(B, H)");
        const py::object c0 = optional_array(c0_obj, dtype_, "the packed weights", {d.batch, d.hidden}, "c0", "(B, H)");
        x = contiguous(x, "x");
        if (dtype_ == DType::f32) return run_forward(f32_, d, x, h0, c0);
        return run_forward(f64_, d, x, h0, c0);
    }

  private:
    template <typename T>
    static void pack(const CheckedWeights& w, LstmPackedWeights<T>* packed) {
        const Kernels<T>& kernels = kernels_for<T>(active_isa());
        const T* w_ih = static_cast<const T*>(w.w_ih.data());
        const T* w_hh = static_cast<const T*>(w.w_hh.data());
        const T* b = static_cast<const T*>(w.b.data());
        py::gil_scoped_release release;
        lstm_pack_weights(kernels, ThreadPool::instance().num_threads(), w.input, w.hidden, w_ih, w_hh, b,
                          LstmCellOptions<T>{}, true, packed);
    }

    py::array require_state(const py::object& obj, const char* name, const std::vector<int64_t>& shape) const {
        py::array array = require_float_array(obj, name);
        require_same_dtype(array, dtype_, name, "the packed weights");
        require_shape(array, shape, name, "(B, H)");
        return contiguous(array, name);
    }

    // A new array, or the caller's buffer: right dtype and shape, C-contiguous and writeable (never copied).
    py::array output_state(const py::object& obj, const char* name, const std::vector<int64_t>& shape) const {
        if (obj.is_none())
            return dtype_ == DType::f32 ? new_array<float>(shape) : new_array<double>(shape);
        py::array array = require_float_array(obj, name);
        require_same_dtype(array, dtype_, name, "the packed weights");
        require_shape(array, shape, name, "(B, H)");
        const int flags = py::detail::array_proxy(array.ptr())->flags;
        const int needed = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_ |
                           py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        if ((flags & needed) != needed)
            throw py::value_error(std::string(name) + " must be a C-contiguous, aligned, writeable array");
        return array;
    }

    template <typename T>
    static void run_step(const LstmPackedWeights<T>& packed, int64_t batch, const py::array& x, const py::array& h,
                         const py::array& c, py::array& h_out, py::array& c_out, bool reverse) {
        const T *px = static_cast<const T*>(x.data()), *ph = static_cast<const T*>(h.data());
        const T* pc = static_cast<const T*>(c.data());
        T* ph_out = static_cast<T*>(h_out.mutable_data());
        T* pc_out = static_cast<T*>(c_out.mutable_data());
        const int threads = ThreadPool::instance().num_threads();
        py::gil_scoped_release release;
        lstm_step(packed, threads, batch, px, ph, pc, ph_out, pc_out, reverse);
    }

    template <typename T>
    static py::tuple run_forward(const LstmPackedWeights<T>& packed, const LstmDims& d, const py::array& x,
                                 const py::object& h0, const py::object& c0) {
        py::array y = new_array<T>({d.steps, d.batch, d.hidden});
        py::array h_n = new_array<T>({d.batch, d.hidden});
        py::array c_n = new_array<T>({d.batch, d.hidden});
        const T* px = static_cast<const T*>(x.data());
        const T *ph0 = data_or_null<T>(h0), *pc0 = data_or_null<T>(c0);
        T *py_ = data_of<T>(y), *ph_n = data_of<T>(h_n), *pc_n = data_of<T>(c_n);
        const int threads = ThreadPool::instance().num_threads();
        {
            py::gil_scoped_release release;
            lstm_forward_packed<T>(packed, threads, d, LstmSequenceOptions<T>{}, px, nullptr, nullptr, nullptr, ph0, pc0,
                                   py_, ph_n, pc_n, nullptr);
        }
        return py::make_tuple(y, h_n, c_n);
    }

    DType dtype_;
    LstmPackedWeights<float> f32_;
    LstmPackedWeights<double> f64_;
    mutable uint64_t steps_taken_ = 0;  // changed under the GIL
};

const PackedLstm& packed_lstm(const py::object& self) {
    return initialised<const PackedLstm>(self, "create it as PackedLSTM(w_ih, w_hh, b)");
}

void set_num_threads_binding(const py::object& n) {
    if (!PyLong_Check(n.ptr()) || PyBool_Check(n.ptr()))
        throw py::type_error("set_num_threads: n must be an int, got " + type_name(n));
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(n.ptr(), &overflow);
    if (overflow != 0 || value < 1 || value > 1024)
        throw py::value_error("set_num_threads: n must be between 1 and 1024, got " + std::string(py::str(n)));
    ThreadPool::instance().set_num_threads(static_cast<int>(value));
}

void set_buffer_cache_limit_binding(const py::object& nbytes) {
    if (!PyLong_Check(nbytes.ptr()) || PyBool_Check(nbytes.ptr()))
        throw py::type_error("set_buffer_cache_limit: nbytes must be an int, got " + type_name(nbytes));
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(nbytes.ptr(), &overflow);
    if (overflow != 0 || value < 0)
        throw py::value_error("set_buffer_cache_limit: nbytes must be a byte count >= 0, got " +
                              std::string(py::str(nbytes)));
    buffer_pool::set_limit(static_cast<size_t>(value));
}

template <typename T>
py::array elementwise_typed(const py::array& x, bool use_tanh) {
    py::array y = py::array_t<T>(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const Kernels<T>& kernels = kernels_for<T>(active_isa());
    (use_tanh ? kernels.tanh : kernels.sigmoid)(data_of<T>(y), static_cast<const T*>(x.data()), x.size());
    return y;
}

py::array elementwise(const py::object& x_obj, bool use_tanh) {
    py::array x = contiguous(require_float_array(x_obj, "x"), "x");
    return dtype_of(x) == DType::f32 ? elementwise_typed<float>(x, use_tanh) : elementwise_typed<double>(x, use_tanh);
}

// A test hook's body: forces the choice called `name` (names in the enum's order) through
// `force`, returning the previous choice's name.
template <typename Choice>
std::string force_choice(const std::string& name, const std::vector<std::string>& names, Choice (*force)(Choice)) {
    const auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
        std::string listed;
        for (const auto& known : names) listed += (listed.empty() ? "'" : ", '") + known + "'";
        throw py::value_error("name must be one of " + listed + ", got '" + name + "'");
    }
    return names[static_cast<size_t>(force(static_cast<Choice>(found - names.begin())))];
}

template <typename Cache>
void bind_cache(py::module_& m, const char* name, const char* producer, const char* consumer) {
    const std::string doc = std::string("Opaque record of a training forward pass (inputs, states, gates, packed weights),\n"
                                        "consumed by ") + consumer + ". It may be used for several backward calls.";
    const std::string type_name = name;
    const std::string made_by = std::string("only ") + producer + "(..., training=True) makes one";
    py::class_<Cache>(m, name, doc.c_str())
        .def_property_readonly("dtype",
                               [made_by](const py::object& self) {
                                   const Cache& c = initialised<const Cache>(self, made_by.c_str());
                                   return c.dtype == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
                               })
        .def_property_readonly(
            "shape",
            [made_by](const py::object& self) {
                const Cache& c = initialised<const Cache>(self, made_by.c_str());
                return py::make_tuple(c.dims.steps, c.dims.batch, c.dims.input, c.dims.hidden);
            },
            "(T, B, D, H) of the forward pass that made this cache.")
        .def("__repr__", [type_name, made_by](const py::object& self) {
            const Cache& c = initialised<const Cache>(self, made_by.c_str());
            return "<" + type_name + " T=" + std::to_string(c.dims.steps) + " B=" + std::to_string(c.dims.batch) +
                   " D=" + std::to_string(c.dims.input) + " H=" + std::to_string(c.dims.hidden) + " " +
                   dtype_name(c.dtype) + ">";
        });
}

}  // namespace

#ifndef FAST_LSTM_VERSION
#define FAST_LSTM_VERSION "0.0.0"
#endif

PYBIND11_MODULE(_core, m) {
    m.doc() = "Compiled kernels of fast_lstm (import fast_lstm, not this module).";
    m.attr("__version__") = FAST_LSTM_VERSION;

    const std::string warning = select_isa_at_import();
    buffer_pool::limit();  // reads FAST_LSTM_BUFFER_CACHE_MB now, at import, as documented
    if (!warning.empty() && PyErr_WarnEx(PyExc_RuntimeWarning, warning.c_str(), 1) < 0) throw py::error_already_set();

    bind_cache<LstmCache>(m, "LstmCache", "lstm_forward", "lstm_backward");
    bind_cache<GruCache>(m, "GruCache", "gru_forward", "gru_backward");

    m.def("lstm_forward", &lstm_forward_binding, py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
          py::arg("h0") = py::none(), py::arg("c0") = py::none(), py::kw_only(), py::arg("training") = false,
          py::arg("lengths") = py::none(), py::arg("recurrent_mask") = py::none(), py::arg("peephole") = py::none(),
          py::arg("cell_activation") = "tanh", py::arg("forget_gate") = true, py::arg("couple_input_forget") = false,
          py::arg("w_hr") = py::none(), py::arg("recurrence") = "hidden",
          R"doc(Run a single-layer LSTM over a whole sequence.

Arguments (float32 or float64, one dtype for all; any strides, copied if not contiguous):
    x:    (T, B, D) input, time-major.
    w_ih: (4H, D) input weights, gate order i, f, g, o (PyTorch's weight_ih_l0).
    w_hh: (4H, H) recurrent weights (PyTorch's weight_hh_l0).
    b:    (4H,) bias; a PyTorch user passes bias_ih_l0 + bias_hh_l0.
    h0, c0: (B, H) initial states, zeros when None.
    training: keep what lstm_backward needs and return it as `cache`.
    lengths: None, or integers (B,) in [0, T]: sequence b runs lengths[b] steps. Past its
        length its y rows are zero and its state is frozen (h_n, c_n are its state after
        lengths[b] steps; h0, c0 for 0), and lstm_backward ignores dy there and gives zero
        dx. No compute is spent on the padding. Any order of lengths is accepted.
    recurrent_mask: None, or (B, H): variational recurrent dropout (Gal & Ghahramani 2016).
        The recurrence reads h_{t-1} * recurrent_mask, the same mask at every step; y, h_n
        are the unmasked h. The caller draws the mask (already scaled by 1/(1-p)).
    peephole: None, or (3, H) diagonal peephole weights p_i, p_f, p_o (Gers & Schmidhuber
        2000): a_i += p_i * c_{t-1}, a_f += p_f * c_{t-1}, a_o += p_o * c_t. (ONNX's P input
        holds them in the order i, o, f.)
    cell_activation: 'tanh' (default) or 'identity': h_t = o * tanh(c_t) or o * c_t.
    forget_gate: False gives the original LSTM of 1997 without a forget gate,
        c_t = c_{t-1} + i * g; the weights then hold 3 gates, i, g, o: w_ih (3H, D),
        w_hh (3H, H), b (3H,), and so do their gradients.
    couple_input_forget: True couples the gates (CIFG, ONNX's input_forget): f = 1 - i,
        with the same 3-gate weights. Needs forget_gate=True; neither 3-gate cell takes
        peepholes.
    w_hr: None, or (P, H): a projection (LSTMP, Sak et al. 2014; PyTorch's proj_size=P and
        weight_hr_l0): h_t = W_hr (o * act(c_t)) has P features. Then w_hh is (4H, P) and
        h0, recurrent_mask, y, h_n are (., P); c stays (B, H). Combines with every cell option.
    recurrence: 'hidden' (default) or 'cell': the gates read c_{t-1} through w_hh in place of
        h_{t-1} (the cell-state recurrence form of the peephole LSTM: i = sigmoid(W_i x_t +
        U_i c_{t-1} + b_i), likewise f, o). Its textbook form has no recurrent term in g: pass
        zeros in w_hh's g rows (lstmcore does, and keeps them zero). h0 is then read only as the
        state of empty sequences. Combines with neither w_hr nor recurrent_mask.

Returns (y, h_n, c_n, cache): y (T, B, H) every h_t; h_n, c_n (B, H) the final states;
cache an LstmCache when training=True, else None. Inputs are never modified.

Equations: i, f, o = sigmoid(.), g = tanh(.) of x_t W_ih^T + h_{t-1} W_hh^T + b;
c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t). NaN and inf propagate as in numpy.
The GIL is released while the kernels run.)doc");

    m.def("lstm_backward", &lstm_backward_binding, py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("cache"),
          py::kw_only(), py::arg("input_grad") = true,
          R"doc(Backpropagation through time for a training lstm_forward call.

Arguments (the dtype of the forward pass):
    dy:   (T, B, H) gradient of the loss w.r.t. y, or None (zeros).
    dh_n: (B, H) gradient w.r.t. h_n, or None.
    dc_n: (B, H) gradient w.r.t. c_n, or None.
    cache: the LstmCache from lstm_forward(..., training=True).
    input_grad: False skips dx (returned as None): for an input that needs no gradient, such
        as a first layer's data, it saves the dx = dG W_ih GEMM (1/6 of a training step at D = H).

Returns (dx, dw_ih, dw_hh, db, dh0, dc0) with the shapes of x, w_ih, w_hh, b, h0, c0,
followed by dpeephole (3, H) when the forward pass had peepholes, then dw_hr (P, H) when it had
a projection (dy, dh_n are then (T, B, P), (B, P)).
db is the gradient of the summed bias (use it for both bias_ih and bias_hh in PyTorch).)doc");

    m.def("gru_forward", &gru_forward_binding, py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
          py::arg("b_hh"), py::arg("h0") = py::none(), py::kw_only(), py::arg("training") = false,
          py::arg("lengths") = py::none(), py::arg("recurrent_mask") = py::none(),
          R"doc(Run a single-layer GRU over a whole sequence (PyTorch's nn.GRU formulation).

Arguments (float32 or float64, one dtype for all; any strides, copied if not contiguous):
    x:    (T, B, D) input, time-major.
    w_ih: (3H, D) input weights, gate order r, z, n (PyTorch's weight_ih_l0).
    w_hh: (3H, H) recurrent weights (PyTorch's weight_hh_l0).
    b_ih, b_hh: (3H,) the two biases, kept apart because the reset gate scales b_hn alone
        (PyTorch's bias_ih_l0, bias_hh_l0).
    h0:   (B, H) initial state, zeros when None.
    training: keep what gru_backward needs and return it as `cache`.
    lengths: None, or integers (B,) in [0, T], as in lstm_forward: past its length a
        sequence's y rows are zero, its state is frozen and no compute is spent on it.
    recurrent_mask: None, or (B, H): variational recurrent dropout. The recurrent product
        reads h_{t-1} * recurrent_mask; the update z * h_{t-1} and the outputs use h itself.

Returns (y, h_n, cache): y (T, B, H) every h_t; h_n (B, H) the final state; cache a
GruCache when training=True, else None. Inputs are never modified.

Equations: r = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr), z likewise,
n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.
The GIL is released while the kernels run.)doc");

    m.def("gru_backward", &gru_backward_binding, py::arg("dy"), py::arg("dh_n"), py::arg("cache"), py::kw_only(),
          py::arg("input_grad") = true,
          R"doc(Backpropagation through time for a training gru_forward call.

Arguments (the dtype of the forward pass):
    dy:   (T, B, H) gradient of the loss w.r.t. y, or None (zeros).
    dh_n: (B, H) gradient w.r.t. h_n, or None.
    cache: the GruCache from gru_forward(..., training=True).
    input_grad: False skips dx (returned as None), as in lstm_backward.

Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0) with the shapes of x, w_ih, w_hh, b_ih, b_hh, h0.)doc");

    py::class_<PackedLstm>(m, "PackedLSTM",
                           R"doc(LSTM weights packed once for repeated inference: whole sequences or single steps.

PackedLSTM(w_ih, w_hh, b) takes the arguments of lstm_forward (w_ih (4H, D), w_hh (4H, H),
b (4H,), float32 or float64, gate order i, f, g, o) and copies them into the layouts the
kernels read, for the kernel path active now. Later changes to the arrays are not seen.)doc")
        .def(py::init<const py::object&, const py::object&, const py::object&>(), py::arg("w_ih"), py::arg("w_hh"),
             py::arg("b"))
        .def("step",
             [](const py::object& self, const py::object& x_t, const py::object& h, const py::object& c,
                const py::object& h_out, const py::object& c_out) {
                 return packed_lstm(self).step(x_t, h, c, h_out, c_out);
             },
             py::arg("x_t"), py::arg("h"), py::arg("c"), py::kw_only(),
             py::arg("h_out") = py::none(), py::arg("c_out") = py::none(),
             R"doc(One timestep: x_t (B, D), h, c (B, H) -> (h_new, c_new), each (B, H).

h_out / c_out: optional caller-provided (B, H) buffers (C-contiguous, writeable, the
weights' dtype) to write into instead of allocating; c_out may be c, h_out may be h or
x_t (they are then copied first); h_out and c_out must not share memory. Returns the
arrays written. Carries state between calls at the cost of one step, for streaming
inference.)doc")
        .def("forward",
             [](const py::object& self, const py::object& x, const py::object& h0, const py::object& c0) {
                 return packed_lstm(self).forward(x, h0, c0);
             },
             py::arg("x"), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
             "Inference over a sequence, as lstm_forward(x, ..., training=False) without repacking:\n"
             "x (T, B, D), h0, c0 (B, H) or None -> (y, h_n, c_n).")
        .def_property_readonly("input_size", [](const py::object& self) { return packed_lstm(self).input(); }, "D")
        .def_property_readonly("hidden_size", [](const py::object& self) { return packed_lstm(self).hidden(); }, "H")
        .def_property_readonly(
            "dtype",
            [](const py::object& self) {
                return packed_lstm(self).dtype() == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
            },
            "float32 or float64")
        .def_property_readonly("isa", [](const py::object& self) { return std::string(isa_name(packed_lstm(self).isa())); },
                               "The kernel path the weights were packed for.");

    m.def("set_num_threads", &set_num_threads_binding, py::arg("n"),
          "Use up to n threads (1..1024) in the kernels. Default: the CPUs this process may use.\n"
          "Small problems use fewer threads; results are bitwise identical for any n.");
    m.def("get_num_threads", [] { return ThreadPool::instance().num_threads(); },
          "Threads the kernels may use (see set_num_threads).");
    m.def("buffer_cache_bytes", [] { return buffer_pool::cached_bytes(); },
          "Bytes of large buffers (>= 256 KiB each: scratch, and result arrays numpy has freed) the\n"
          "kernels keep for reuse between calls.\n"
          "Reusing them saves faulting in and clearing fresh pages on every call (8-9% of a training\n"
          "step at H = 1024). See set_buffer_cache_limit and empty_buffer_cache.");
    m.def("empty_buffer_cache", [] { buffer_pool::clear(); },
          "Return every cached scratch buffer to the system (buffer_cache_bytes() becomes 0).");
    m.def("set_buffer_cache_limit", &set_buffer_cache_limit_binding, py::arg("nbytes"),
          "Keep at most nbytes of scratch buffers between calls (0: keep none, free each after use).\n"
          "Default: 1 GiB, or FAST_LSTM_BUFFER_CACHE_MB (whole MB) from the environment at import.\n"
          "Lowering the limit frees the oldest cached buffers beyond it.");
    m.def("get_buffer_cache_limit", [] { return buffer_pool::limit(); },
          "The byte limit of the scratch-buffer cache (see set_buffer_cache_limit).");
    m.def("isa", [] { return std::string(isa_name(active_isa())); },
          "The active kernel path: 'avx512', 'avx2' or 'generic'. Chosen at import from the CPU;\n"
          "the environment variable FAST_LSTM_ISA=avx2 or =generic forces a lower one.");
    m.def("available_isas", [] {
              std::vector<std::string> names;
              for (Isa isa : supported_isas()) names.emplace_back(isa_name(isa));
              return names;
          },
          "Kernel paths this CPU can run, best first (the last is always 'generic').");
    m.def("_force_isa", [](const std::string& name) {
              Isa isa;
              if (!parse_isa(name, &isa))
                  throw py::value_error("name must be one of 'avx512', 'avx2', 'generic', got '" + name + "'");
              if (!isa_supported(isa)) throw py::value_error("this CPU cannot run the '" + name + "' path");
              const std::string previous = isa_name(active_isa());
              set_active_isa(isa);
              return previous;
          },
          py::arg("name"), "Test hook: switch the active kernel path; returns the previous one.");
    m.def("_force_recurrent_product",
          [](const std::string& name) {
              return force_choice<RecurrentProduct>(name, {"auto", "fused", "gemm"}, force_recurrent_product);
          },
          py::arg("name"),
          "Test hook: how sequence steps compute the recurrent product from the next packing on\n"
          "('fused' tile, 'gemm' then the cell update where the gate count allows, or 'auto' by\n"
          "shape); returns the previous choice.");
    m.def("_force_thread_split",
          [](const std::string& name) {
              return force_choice<ThreadSplit>(name, {"auto", "units", "rows"}, force_thread_split);
          },
          py::arg("name"),
          "Test hook: how threads share an LSTM forward, inference or training ('units' of every step, 'rows'\n"
          "wherever the driver can split them, or 'auto' by shape); returns the previous choice.");
    m.def("_allow_carried_projection", [](bool allow) { return allow_carried_projection(allow); },
          py::arg("allow"),
          "Test hook: whether a batch of one's steps project later steps inside their tiles, and its\n"
          "backward steps compute dx tiles inside their dh product (True, the default), or GEMMs\n"
          "compute every row (False); returns the previous setting.");
    m.def("_carried_input_grad_slices", &carried_input_grad_slices,
          "Test hook: slices of dx tiles that batch-of-one backward steps have computed since import.");
    m.def("_carried_projection_tiles", &carried_projection_tiles,
          "Test hook: projection tiles that batch-of-one steps have computed since import.");
    m.def("_sigmoid", [](const py::object& x) { return elementwise(x, false); }, py::arg("x"),
          "Test hook: the SIMD sigmoid of the active path, elementwise.");
    m.def("_tanh", [](const py::object& x) { return elementwise(x, true); }, py::arg("x"),
          "Test hook: the SIMD tanh of the active path, elementwise.");
}
