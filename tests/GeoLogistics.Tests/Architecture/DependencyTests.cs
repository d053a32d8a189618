using System.Collections.Immutable;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using GeoLogistics.Server.Auth;

namespace GeoLogistics.Tests.Architecture;

/// <summary>
/// STYLE.md: dependencies point one way (endpoints → domain → events → live core → adapters); no two modules import
/// each other. A module is a top-level folder (namespace) of the server, in two layers: its endpoints (the class named
/// <c>…Api</c> that maps its routes, with its handlers and the types nested in it) above the rest of it, its domain.
/// Realtime/Core is a module of its own, because the live core and the protocol adapters around it are two layers.
/// The graph is read from the compiled assembly (signatures, base types, attributes' constructors and every type, method
/// and field a method body names), so a fully qualified name or a lambda counts as much as a using line.
/// </summary>
public sealed class DependencyTests
{
    [Fact]
    public void No_two_modules_of_the_server_depend_on_each_other()
    {
        var graph = ModuleGraph.Read(typeof(Caller).Assembly.Location);

        var cycles = Cycles(graph.Edges).ToList();

        Assert.True(cycles.Count == 0, "Modules that depend on each other:\n" + string.Join("\n", cycles.Select(c =>
            string.Join(" → ", c.Append(c[0])) + "\n" + string.Join("\n", c.Zip(c.Skip(1).Append(c[0]),
                (from, to) => $"    {from} → {to}: {graph.Edges[(from, to)]}")))));
    }

    [Fact]
    public void A_module_s_endpoints_sit_above_its_domain()
    {
        var graph = ModuleGraph.Read(typeof(Caller).Assembly.Location);

        // The layers are told apart at all: sign-in's endpoints name the user accounts; the rest of Auth does not.
        Assert.Contains(("Auth endpoints", "Users"), graph.Edges.Keys);
        Assert.Contains(("Users", "Auth"), graph.Edges.Keys);
        Assert.Contains(("Auth endpoints", "Auth"), graph.Edges.Keys);
        // Nothing below the endpoints names them: what two modules' endpoints share is domain.
        Assert.DoesNotContain(graph.Edges.Keys, e => !e.From.EndsWith(" endpoints", StringComparison.Ordinal) && e.To.EndsWith(" endpoints", StringComparison.Ordinal));
    }

    /// <summary>One shortest cycle through each module that is on one, each cycle reported once.</summary>
    private static IEnumerable<List<string>> Cycles(Dictionary<(string From, string To), string> edges)
    {
        var next = edges.Keys.GroupBy(e => e.From).ToDictionary(g => g.Key, g => g.Select(e => e.To).Order().ToList());
        var seen = new HashSet<string>();
        foreach (var start in next.Keys.Order())
        {
            // Breadth-first from start back to start: the shortest way round.
            var cameFrom = new Dictionary<string, string>();
            var queue = new Queue<string>([start]);
            while (queue.TryDequeue(out var at) && !cameFrom.ContainsKey(start))
            {
                foreach (var to in next.GetValueOrDefault(at) ?? [])
                {
                    if (cameFrom.TryAdd(to, at))
                    {
                        queue.Enqueue(to);
                    }
                }
            }
            if (!cameFrom.ContainsKey(start))
            {
                continue;
            }
            var cycle = new List<string>();
            for (var at = cameFrom[start]; at != start; at = cameFrom[at])
            {
                cycle.Insert(0, at);
            }
            cycle.Insert(0, start);
            if (seen.Add(string.Join(",", cycle.Order())))
            {
                yield return cycle;
            }
        }
    }

    /// <summary>Which module's types name which other module's types, with one example per edge.</summary>
    private sealed class ModuleGraph : ISignatureTypeProvider<bool, object?>
    {
        private const string Root = "GeoLogistics.Server.";
        private static readonly Dictionary<ushort, OperandType> Operands = typeof(OpCodes).GetFields()
            .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => (ushort)o.Value, o => o.OperandType);

        private readonly MetadataReader md;
        private readonly HashSet<TypeDefinitionHandle> found = [];

        public Dictionary<(string From, string To), string> Edges { get; } = [];

        private ModuleGraph(MetadataReader md) => this.md = md;

        public static ModuleGraph Read(string assemblyPath)
        {
            using var pe = new PEReader(File.OpenRead(assemblyPath));
            var graph = new ModuleGraph(pe.GetMetadataReader());
            foreach (var type in graph.md.TypeDefinitions)
            {
                graph.Scan(pe, type);
            }
            return graph;
        }

        private void Scan(PEReader pe, TypeDefinitionHandle handle)
        {
            if (ModuleOf(handle) is not { } from)
            {
                return;
            }
            found.Clear();
            var type = md.GetTypeDefinition(handle);
            Entity(type.BaseType);
            foreach (var i in type.GetInterfaceImplementations())
            {
                Entity(md.GetInterfaceImplementation(i).Interface);
            }
            Attributes(type.GetCustomAttributes());
            GenericParameters(type.GetGenericParameters());
            foreach (var f in type.GetFields())
            {
                var field = md.GetFieldDefinition(f);
                field.DecodeSignature(this, null);
                Attributes(field.GetCustomAttributes());
            }
            foreach (var p in type.GetProperties())
            {
                var property = md.GetPropertyDefinition(p);
                property.DecodeSignature(this, null);
                Attributes(property.GetCustomAttributes());
            }
            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                method.DecodeSignature(this, null);
                Attributes(method.GetCustomAttributes());
                GenericParameters(method.GetGenericParameters());
                foreach (var p in method.GetParameters())
                {
                    Attributes(md.GetParameter(p).GetCustomAttributes());
                }
                if (method.RelativeVirtualAddress != 0)
                {
                    Body(pe.GetMethodBody(method.RelativeVirtualAddress));
                }
            }
            foreach (var to in found)
            {
                if (ModuleOf(to) is { } target && target != from)
                {
                    Edges.TryAdd((from, target), $"{Name(handle)} uses {Name(to)}");
                }
            }
        }

        private void Body(MethodBodyBlock body)
        {
            if (!body.LocalSignature.IsNil)
            {
                md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(this, null);
            }
            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                var code = (ushort)il.ReadByte();
                if (code == 0xFE)
                {
                    code = (ushort)(0xFE00 | il.ReadByte());
                }
                switch (Operands[code])
                {
                    case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                        Entity(MetadataTokens.EntityHandle(il.ReadInt32()));
                        break;
                    case OperandType.InlineNone:
                        break;
                    case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                        il.Offset += 1;
                        break;
                    case OperandType.InlineVar:
                        il.Offset += 2;
                        break;
                    case OperandType.InlineI8 or OperandType.InlineR:
                        il.Offset += 8;
                        break;
                    case OperandType.InlineSwitch:
                        var targets = il.ReadInt32();
                        il.Offset += 4 * targets;
                        break;
                    default:
                        il.Offset += 4;
                        break;
                }
            }
        }

        private void Entity(EntityHandle handle)
        {
            if (handle.IsNil)
            {
                // An interface has no base type.
                return;
            }
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    found.Add((TypeDefinitionHandle)handle);
                    break;
                case HandleKind.TypeSpecification:
                    md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
                    break;
                case HandleKind.MethodDefinition:
                    found.Add(md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.FieldDefinition:
                    found.Add(md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.MemberReference:
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    Entity(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Method)
                    {
                        member.DecodeMethodSignature(this, null);
                    }
                    else
                    {
                        member.DecodeFieldSignature(this, null);
                    }
                    break;
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Entity(spec.Method);
                    spec.DecodeSignature(this, null);
                    break;
            }
        }

        private void Attributes(CustomAttributeHandleCollection attributes)
        {
            foreach (var a in attributes)
            {
                Entity(md.GetCustomAttribute(a).Constructor);
            }
        }

        private void GenericParameters(GenericParameterHandleCollection parameters)
        {
            foreach (var p in parameters)
            {
                foreach (var c in md.GetGenericParameter(p).GetConstraints())
                {
                    Entity(md.GetGenericParameterConstraint(c).Type);
                }
            }
        }

        /// <summary>
        /// Realtime.Core, or the first name under GeoLogistics.Server, with " endpoints" for its <c>…Api</c> class; null
        /// outside (Program, generated code).
        /// </summary>
        private string? ModuleOf(TypeDefinitionHandle handle)
        {
            var type = md.GetTypeDefinition(Outermost(handle));
            var ns = md.GetString(type.Namespace);
            if (!ns.StartsWith(Root, StringComparison.Ordinal))
            {
                return null;
            }
            var parts = ns[Root.Length..].Split('.');
            var module = parts is ["Realtime", "Core", ..] ? "Realtime.Core" : parts[0];
            return md.GetString(type.Name).EndsWith("Api", StringComparison.Ordinal) ? module + " endpoints" : module;
        }

        private TypeDefinitionHandle Outermost(TypeDefinitionHandle handle)
        {
            while (md.GetTypeDefinition(handle).GetDeclaringType() is { IsNil: false } outer)
            {
                handle = outer;
            }
            return handle;
        }

        private string Name(TypeDefinitionHandle handle)
        {
            var type = md.GetTypeDefinition(Outermost(handle));
            return $"{md.GetString(type.Namespace)}.{md.GetString(type.Name)}"[Root.Length..];
        }

        public bool GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => found.Add(handle);

        public bool GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public bool GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => false;
        public bool GetPrimitiveType(PrimitiveTypeCode typeCode) => false;
        public bool GetSZArrayType(bool elementType) => false;
        public bool GetArrayType(bool elementType, ArrayShape shape) => false;
        public bool GetByReferenceType(bool elementType) => false;
        public bool GetPointerType(bool elementType) => false;
        public bool GetPinnedType(bool elementType) => false;
        public bool GetGenericInstantiation(bool genericType, ImmutableArray<bool> typeArguments) => false;
        public bool GetGenericMethodParameter(object? genericContext, int index) => false;
        public bool GetGenericTypeParameter(object? genericContext, int index) => false;
        public bool GetModifiedType(bool modifier, bool unmodifiedType, bool isRequired) => false;
        public bool GetFunctionPointerType(MethodSignature<bool> signature) => false;
    }
}
