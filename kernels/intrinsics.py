"""LLVM instructions that Numba does not offer, as jitted functions (the bottom layer of `fastmath`).

Each is a single LLVM operation on scalars, so it vectorises inside a loop like `+` or `*` does:
IEEE-754 bit reinterpretations (float <-> int), integer arithmetic on the exponent field kept in
LLVM's int32 (Numba's own int32 arithmetic widens to int64, halving the vector lanes), a fused
multiply-add rounded once, and an addition that alone may be reassociated.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

SQRT_HALF_BITS32 = 0x3F3504F3           # bits of float32 sqrt(1/2) (0.70710677), the low end of `exponent_and_scale32`'s m


@intrinsic
def float64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 `bits` (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def int64_from_float64_bits(typingctx, x):
    """The int64 whose bits are the IEEE-754 pattern of the float64 `x` (the inverse bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def fma32(typingctx, a, b, c):
    """a b + c (float32) rounded once: llvm.fma, one vfmadd in scalar and vector code alike. fastmath's
    `contract` would leave the fusing to LLVM, which may fuse differently in a loop's vector body and in
    its scalar remainder, so that a result would depend on where its element falls in the loop."""
    def codegen(context, builder, signature, args):
        float32 = ir.FloatType()
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(float32, [float32] * 3), "llvm.fma.f32")
        return builder.call(fma, args)
    return types.float32(types.float32, types.float32, types.float32), codegen


@intrinsic
def pow2_32(typingctx, k):
    """2^k as a float32 for an integral float32 k in [-126, 127]: exponent field k + 127, built in int32."""
    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        field = builder.add(builder.fptosi(args[0], int32), ir.Constant(int32, 127))
        return builder.bitcast(builder.shl(field, ir.Constant(int32, 23)), ir.FloatType())
    return types.float32(types.float32), codegen


@intrinsic
def exponent_and_scale32(typingctx, v):
    """(k, 2^-k) as two float32s for a float32 v = m 2^k with sqrt(1/2) <= m < sqrt(2), from its bits: less the
    bits of sqrt(1/2), the exponent field holds k (read by an arithmetic shift, sign included), and 2^-k
    has exponent field 127 - k. For normal v in (0, 2^126) (2^-k normal); other v give garbage."""
    def codegen(context, builder, signature, args):
        int32, float32 = ir.IntType(32), ir.FloatType()
        bits = builder.sub(builder.bitcast(args[0], int32), ir.Constant(int32, SQRT_HALF_BITS32))
        k = builder.ashr(bits, ir.Constant(int32, 23))
        scale_bits = builder.shl(builder.sub(ir.Constant(int32, 127), k), ir.Constant(int32, 23))
        return context.make_tuple(builder, signature.return_type,
                                  [builder.sitofp(k, float32), builder.bitcast(scale_bits, float32)])
    return types.UniTuple(types.float32, 2)(types.float32), codegen


@intrinsic
def add_reassoc32(typingctx, a, b):
    """a + b (float32) flagged `reassoc`, so that LLVM may reorder a sum of them into vector lanes, while the
    rest of the function keeps its order of operations (fastmath={"reassoc"} would free every operation)."""
    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1], flags=("reassoc",))
    return types.float32(types.float32, types.float32), codegen
